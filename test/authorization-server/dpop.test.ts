// DPoP (RFC 9449) at the authorization server: oidc-provider's feature as Gatehouse configures it —
// bound tokens (cnf.jkt, token_type DPoP), server nonces required (DPOP_REQUIRE_NONCE) and derived from
// DPOP_NONCE_SECRET, single-use proofs, the asymmetric algorithm allowlist, and clients registered with
// dpop_bound_access_tokens (RFC 9449 §5.2). Proofs are made here with jose; openid-client's own DPoP
// handling (it retries once with the nonce) is checked too.
import crypto from "node:crypto";
import * as oidc from "openid-client";
import { calculateJwkThumbprint, decodeJwt, exportJWK, SignJWT } from "jose";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { dpopKey, type DpopKey } from "../helpers/dpop.ts";
import { UserAgent } from "../helpers/user-agent.ts";
import { ASYMMETRIC_ALGORITHMS } from "../../src/shared/algorithms.ts";

const API = "https://orders.example.com";
const OPAQUE = "https://opaque.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";

describe("DPoP at the authorization server (nonces required)", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<"plain" | "bound", { id: string; secret: string }> = {} as never;
  let spaId: string;
  let proofKey: DpopKey;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    proofKey = await dpopKey();
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: OPAQUE, name: "Opaque", token_format: "opaque", token_check: "introspection", scopes: ["orders:read"] });
      for (const [name, bound] of [["plain", false], ["bound", true]] as const) {
        const created = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes: ["orders:read"], dpop_bound_access_tokens: bound });
        clients[name] = { id: created.client.client_id, secret: created.client_secret! };
      }
      await services.users.create({ username: "alice", password: PASSWORD, email: "alice@example.com" });
      const spa = await services.clients.create({ client_name: "SPA", public: true, grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], scopes: ["orders:read"] });
      spaId = spa.client.client_id;
    });
    gatehouse = await startGatehouse(db, { DPOP_REQUIRE_NONCE: "true" });
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  /** A DPoP proof for POST /token (ES256 unless the header says otherwise). */
  function proof(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
    return proofKey.proof({ htm: "POST", htu: `${gatehouse.issuer}/token`, ...claims }, header);
  }

  async function tokenRequest(client: "plain" | "bound", dpop?: string, resource = API) {
    const { id, secret } = clients[client];
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`, ...(dpop ? { dpop } : {}) },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource }),
    });
    return { status: response.status, nonce: response.headers.get("dpop-nonce"), body: (await response.json()) as Record<string, string> };
  }

  /** The nonce the server hands out with use_dpop_nonce (RFC 9449 §8). */
  async function freshNonce(): Promise<string> {
    const first = await tokenRequest("plain", await proof());
    expect(first.status).toBe(400);
    expect(first.body.error).toBe("use_dpop_nonce");
    expect(first.nonce).toEqual(expect.any(String));
    return first.nonce!;
  }

  test("discovery announces the asymmetric proof algorithms Gatehouse accepts", async () => {
    const metadata = (await (await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual([...ASYMMETRIC_ALGORITHMS]);
  });

  test("a proof without a nonce gets use_dpop_nonce and a DPoP-Nonce; with it, a token bound to the key", async () => {
    const nonce = await freshNonce();
    const second = await tokenRequest("plain", await proof({ nonce }));
    expect(second.status).toBe(200);
    expect(second.body.token_type).toBe("DPoP");
    expect((decodeJwt(second.body.access_token!).cnf as { jkt: string }).jkt).toBe(proofKey.jkt);
  });

  test("openid-client retries with the server's nonce on its own", async () => {
    const config = await oidc.discovery(new URL(gatehouse.issuer), clients.plain.id, undefined, oidc.ClientSecretBasic(clients.plain.secret), { execute: [oidc.allowInsecureRequests] });
    const key = await oidc.randomDPoPKeyPair();
    const tokens = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: API }, { DPoP: oidc.getDPoPHandle(config, key) });
    expect(tokens.token_type).toBe("dpop");
    expect((decodeJwt(tokens.access_token).cnf as { jkt: string }).jkt).toBe(await calculateJwkThumbprint(await exportJWK(key.publicKey)));
  });

  test("a nonce that is not the server's → use_dpop_nonce", async () => {
    const response = await tokenRequest("plain", await proof({ nonce: "made-up-nonce" }));
    expect([response.status, response.body.error]).toEqual([400, "use_dpop_nonce"]);
  });

  // oidc-provider refuses a replayed proof as invalid_grant ("DPoP proof JWT Replay detected", in its log only).
  test("the same proof twice → invalid_grant (allowReplay off)", async () => {
    const nonce = await freshNonce();
    const dpop = await proof({ nonce });
    expect((await tokenRequest("plain", dpop)).status).toBe(200);
    const again = await tokenRequest("plain", dpop);
    expect([again.status, again.body.error]).toEqual([400, "invalid_grant"]);
  });

  test("alg none and HS256 proofs → invalid_dpop_proof", async () => {
    const nonce = await freshNonce();
    const claims = { htm: "POST", htu: `${gatehouse.issuer}/token`, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), nonce };
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const none = `${b64({ alg: "none", typ: "dpop+jwt", jwk: proofKey.jwk })}.${b64(claims)}.`;
    const secret = crypto.randomBytes(32);
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: { kty: "oct", k: secret.toString("base64url") } as never }).sign(secret);
    for (const dpop of [none, hs256]) {
      const response = await tokenRequest("plain", dpop);
      expect([response.status, response.body.error]).toEqual([400, "invalid_dpop_proof"]);
    }
  });

  test("a client registered with dpop_bound_access_tokens is refused without a proof, and gets bound tokens with one", async () => {
    // oidc-provider: invalid_grant ("DPoP proof JWT not provided" in its log); the same request from a client without the setting passes.
    const without = await tokenRequest("bound");
    expect([without.status, without.body.error]).toEqual([400, "invalid_grant"]);
    const plain = await tokenRequest("plain");
    expect([plain.status, plain.body.token_type]).toEqual([200, "Bearer"]);
    const nonce = await freshNonce();
    const withProof = await tokenRequest("bound", await proof({ nonce }));
    expect(withProof.status).toBe(200);
    expect(withProof.body.token_type).toBe("DPoP");
  });

  test("an opaque DPoP-bound token introspects with its cnf and token_type DPoP", async () => {
    const nonce = await freshNonce();
    const issued = await tokenRequest("plain", await proof({ nonce }), OPAQUE);
    expect(issued.status).toBe(200);
    const { id, secret } = clients.plain;
    const response = await fetch(`${gatehouse.issuer}/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
      body: new URLSearchParams({ token: issued.body.access_token! }),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({ active: true, token_type: "DPoP", cnf: { jkt: proofKey.jkt } });
  });

  test("a public client's code flow with DPoP: the access and the refresh token are bound; refreshing needs a proof of the same key", async () => {
    const insecure = { execute: [oidc.allowInsecureRequests] };
    const spa = await oidc.discovery(new URL(gatehouse.issuer), spaId, undefined, oidc.None(), insecure);
    const key = await oidc.randomDPoPKeyPair();
    const jkt = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: REDIRECT, scope: "openid offline_access orders:read", resource: API, prompt: "consent", state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
    });
    const agent = new UserAgent();
    const start = await agent.follow(url.href, gatehouse.issuer);
    let result = await agent.submit(start.page!, { username: "alice", password: PASSWORD }, gatehouse.issuer);
    if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, gatehouse.issuer);
    expect(result.redirect).toMatch(/code=/);
    const tokens = await oidc.authorizationCodeGrant(spa, new URL(result.redirect!), { pkceCodeVerifier: verifier, expectedState: state }, { resource: API }, { DPoP: oidc.getDPoPHandle(spa, key) });
    expect(tokens.token_type).toBe("dpop");
    expect((decodeJwt(tokens.access_token).cnf as { jkt: string }).jkt).toBe(jkt);
    expect(tokens.refresh_token).toEqual(expect.any(String));

    // Without a proof, or with another key's: refused (RFC 9449 §5: a public client's refresh token is bound).
    const refresh = (dpop?: oidc.DPoPHandle) => oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: API }, dpop ? { DPoP: dpop } : {});
    await expect(refresh()).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(refresh(oidc.getDPoPHandle(spa, await oidc.randomDPoPKeyPair()))).rejects.toMatchObject({ error: "invalid_grant" });
    const refreshed = await refresh(oidc.getDPoPHandle(spa, key));
    expect((decodeJwt(refreshed.access_token).cnf as { jkt: string }).jkt).toBe(jkt);
  });
});
