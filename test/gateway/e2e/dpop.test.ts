// DPoP (RFC 9449) at the gateway, end to end: DPoP-bound tokens from the real authorization server
// (openid-client, and proofs made here with jose), a real backend, and every refusal of §4.3 and §7.1 with
// its WWW-Authenticate: DPoP challenge. JWT tokens (checked in-process) and opaque ones (introspected,
// their cnf kept) are enforced alike; the dpop policy makes an API refuse plain bearer tokens.
import crypto from "node:crypto";
import * as oidc from "openid-client";
import { decodeJwt, exportJWK, SignJWT } from "jose";
import { freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { dpopKey, type DpopKey } from "../../helpers/dpop.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";
import { clientFacing } from "../../../src/gateway/forward/forwarded.ts";
import { ASYMMETRIC_ALGORITHMS } from "../../../src/shared/algorithms.ts";

const ORDERS = "https://orders.example.com";
const OPAQUE = "https://opaque.example.com";
const STRICT = "https://strict.example.com";
const NONCE = "https://nonce.example.com";
const ALGS = ASYMMETRIC_ALGORITHMS.join(" ");

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const ath = (token: string) => crypto.createHash("sha256").update(token).digest("base64url");

interface ProofClaims {
  htm: string;
  htu: string;
  ath?: string;
  iat?: number;
  jti?: string;
  nonce?: string;
}


describe("DPoP at the gateway", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let gateway: string;
  let config: oidc.Configuration;
  let key: DpopKey;
  /** DPoP-bound tokens for ORDERS (JWT), OPAQUE (introspected) and STRICT, bound to key; a plain one for ORDERS and STRICT. */
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    upstream = await startUpstream();
    const client = await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read orders" });
      const read = { GET: { all_of: ["orders:read"], any_of: [] }, POST: { all_of: ["orders:read"], any_of: [] } };
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
      await services.routes.apply(ORDERS, { path_prefix: "/orders", upstream: `${upstream.url}/v1`, scopes: read });
      await services.apis.apply({ identifier: OPAQUE, name: "Opaque", token_format: "opaque", token_check: "introspection", scopes: ["orders:read"] });
      await services.routes.apply(OPAQUE, { path_prefix: "/opaque", upstream: upstream.url, rewrite: "keep" });
      await services.apis.apply({ identifier: STRICT, name: "Strict", scopes: ["orders:read"], policies: { dpop: { required: true, max_age_seconds: 30 } } });
      await services.routes.apply(STRICT, { path_prefix: "/strict", upstream: upstream.url, rewrite: "keep" });
      await services.routes.apply(STRICT, { path_prefix: "/strict-public", upstream: upstream.url, rewrite: "keep", public: true });
      await services.apis.apply({ identifier: NONCE, name: "Nonce", scopes: ["orders:read"], policies: { dpop: { required: true, require_nonce: true } } });
      await services.routes.apply(NONCE, { path_prefix: "/nonce", upstream: upstream.url, rewrite: "keep" });
      const created = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { id: created.client.client_id, secret: created.client_secret! };
    });
    gatehouse = await startGatehouse(db, { GATEWAY_INTROSPECTION_CACHE_TTL: "1" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    config = await oidc.discovery(new URL(gatehouse.issuer), client.id, undefined, oidc.ClientSecretBasic(client.secret), { execute: [oidc.allowInsecureRequests] });
    key = await dpopKey();
    const handle = oidc.getDPoPHandle(config, key.pair);
    for (const [name, resource] of [["orders", ORDERS], ["opaque", OPAQUE], ["strict", STRICT], ["nonce", NONCE]] as const) {
      const response = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource }, { DPoP: handle });
      expect(response.token_type).toBe("dpop");
      tokens[name] = response.access_token;
    }
    tokens.plain = (await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: ORDERS })).access_token;
    tokens.plainStrict = (await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: STRICT })).access_token;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  /** A call with `Authorization: DPoP <token>` and the given proof (none when undefined). */
  const dpopCall = (path: string, token: string, dpop: string | undefined, init: RequestInit = {}) =>
    fetch(`${gateway}${path}`, { ...init, headers: { authorization: `DPoP ${token}`, ...(dpop ? { dpop } : {}), ...(init.headers as Record<string, string>) } });

  /** A proof for GET <gateway><path> naming token, with claims overridden as given. */
  const proofFor = (path: string, token: string, overrides: Partial<ProofClaims> = {}, header: Record<string, unknown> = {}, signer = key) =>
    signer.proof({ htm: "GET", htu: `${gateway}${path}`, ath: ath(token), ...overrides }, header);

  /** The RFC 9449 §7.1 challenge: scheme DPoP, the error, the algorithms accepted. */
  async function expectDpopRefusal(response: Response, error: "invalid_dpop_proof" | "invalid_token" | "use_dpop_nonce") {
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect({ status: response.status, scheme: challenge.split(" ")[0] }).toEqual({ status: 401, scheme: "DPoP" });
    expect(challenge).toContain(`error="${error}"`);
    expect(challenge).toContain(`algs="${ALGS}"`);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe(error);
    return body.error_description;
  }

  test("the authorization server binds the token to the key: cnf.jkt is the key's thumbprint", () => {
    expect((decodeJwt(tokens.orders!).cnf as { jkt: string }).jkt).toBe(key.jkt);
    expect(decodeJwt(tokens.plain!).cnf).toBeUndefined();
  });

  test("openid-client's fetchProtectedResource (Authorization: DPoP and a proof) reaches the backend, for JWT and introspected tokens", async () => {
    const handle = oidc.getDPoPHandle(config, key.pair);
    for (const [path, token] of [["/orders/7?x=1", tokens.orders!], ["/opaque/7", tokens.opaque!], ["/strict/7", tokens.strict!]]) {
      const response = await oidc.fetchProtectedResource(config, token, new URL(`${gateway}${path}`), "GET", undefined, undefined, { DPoP: handle });
      expect(response.status).toBe(200);
    }
    const seen = [...upstream.received].reverse().find((r) => r.url.startsWith("/v1/7"))!;
    expect(seen.url).toBe("/v1/7?x=1");
    expect(seen.headers["x-gatehouse-subject"]).toBe(config.clientMetadata().client_id);
  });

  test("a proof made here with jose, POST with a body: accepted; the same proof again is a replay", async () => {
    const dpop = await key.proof({ htm: "POST", htu: `${gateway}/orders/8`, ath: ath(tokens.orders!) });
    const init = { method: "POST", body: "{}", headers: { "content-type": "application/json" } };
    expect((await dpopCall("/orders/8", tokens.orders!, dpop, init)).status).toBe(200);
    expect(await expectDpopRefusal(await dpopCall("/orders/8", tokens.orders!, dpop, init), "invalid_dpop_proof")).toBe("the DPoP proof has been used before");
  });

  test("a replay is refused for introspected tokens too, and after the in-process memory (the shared store is the truth)", async () => {
    const dpop = await proofFor("/opaque/9", tokens.opaque!);
    expect((await dpopCall("/opaque/9", tokens.opaque!, dpop)).status).toBe(200);
    expect(await expectDpopRefusal(await dpopCall("/opaque/9", tokens.opaque!, dpop), "invalid_dpop_proof")).toMatch(/used before/);
    // The shared store holds the jti, namespaced by the key's thumbprint.
    const { jti } = decodeJwt(dpop);
    const firstUse = await withServices(db, (_services, storage) => storage.replays.firstUse(`dpop:${key.jkt}:${jti}`, new Date(Date.now() + 60_000)));
    expect(firstUse).toBe(false);
  });

  test("a DPoP-bound token sent as Bearer is refused (JWT and introspected), with the DPoP challenge", async () => {
    for (const [path, token] of [["/orders/1", tokens.orders!], ["/opaque/1", tokens.opaque!]]) {
      const response = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${token}`, dpop: await proofFor(path, token) } });
      expect(await expectDpopRefusal(response, "invalid_token")).toMatch(/bound to a key/);
    }
  });

  test("no proof with a DPoP token → invalid_dpop_proof; two proofs → invalid_dpop_proof", async () => {
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, undefined), "invalid_dpop_proof")).toMatch(/DPoP proof is required/);
    const one = await proofFor("/orders/1", tokens.orders!);
    const two = await proofFor("/orders/1", tokens.orders!);
    const headers = new Headers({ authorization: `DPoP ${tokens.orders!}` });
    headers.append("dpop", one);
    headers.append("dpop", two);
    expect(await expectDpopRefusal(await fetch(`${gateway}/orders/1`, { headers }), "invalid_dpop_proof")).toMatch(/more than one/);
  });

  test("a proof signed by another key → invalid_dpop_proof", async () => {
    const other = await dpopKey();
    const dpop = await proofFor("/orders/1", tokens.orders!, {}, {}, other);
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, dpop), "invalid_dpop_proof")).toMatch(/not signed by the key/);
  });

  test.each([
    ["htm", { htm: "POST" }, /htm/],
    ["htu of another path", { htu: "PATH:/orders/2" }, /htu/],
    ["htu of another host", { htu: "http://localhost:1/orders/1" }, /htu/],
    ["htu with another scheme", { htu: "https://HOST/orders/1" }, /htu/],
    ["ath of another token", { ath: ath("another-token") }, /ath/],
    ["no ath", { ath: undefined }, /ath/],
    ["stale iat", { iat: Math.floor(Date.now() / 1000) - 600 }, /older than 60 seconds/],
    ["iat in the future", { iat: Math.floor(Date.now() / 1000) + 600 }, /future/],
  ])("wrong %s → invalid_dpop_proof", async (_name, overrides, message) => {
    const host = `127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    const claims = { ...overrides } as Partial<ProofClaims>;
    if (claims.htu) claims.htu = claims.htu.replace("PATH:", gateway).replace("HOST", host);
    const dpop = await proofFor("/orders/1", tokens.orders!, claims);
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, dpop), "invalid_dpop_proof")).toMatch(message);
  });

  test("htu is compared without query and fragment, after normalization (case of scheme and host, dot segments)", async () => {
    const host = `127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    const dpop = await proofFor("/orders/3", tokens.orders!, { htu: `HTTP://${host}/orders/x/../3#frag` });
    expect((await dpopCall("/orders/3?a=b", tokens.orders!, dpop)).status).toBe(200);
  });

  test("X-Forwarded-Proto and X-Forwarded-Host from an untrusted client do not change the URI the proof must name", async () => {
    const headers = { "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com" };
    const forged = await proofFor("/orders/1", tokens.orders!, { htu: "https://api.example.com/orders/1" });
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, forged, { headers }), "invalid_dpop_proof")).toMatch(/htu/);
    const real = await proofFor("/orders/1", tokens.orders!);
    expect((await dpopCall("/orders/1", tokens.orders!, real, { headers })).status).toBe(200);
  });

  test("behind a trusted proxy, the URI is the one the proxy says the client used", () => {
    const incoming = { host: "10.0.0.5:8080", "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com" };
    expect(clientFacing(incoming, false, 1)).toEqual({ scheme: "https", host: "api.example.com" });
    expect(clientFacing(incoming, false, 0)).toEqual({ scheme: "http", host: "10.0.0.5:8080" });
  });

  test("alg none, HS256, a typ other than dpop+jwt, a private key or no key in the header → invalid_dpop_proof", async () => {
    const claims = { htm: "GET", htu: `${gateway}/orders/1`, ath: ath(tokens.orders!), jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) };
    const none = `${b64({ alg: "none", typ: "dpop+jwt", jwk: key.jwk })}.${b64(claims)}.`;
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, none), "invalid_dpop_proof")).toMatch(/alg is not accepted/);
    const secret = crypto.randomBytes(32);
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: { kty: "oct", k: secret.toString("base64url") } as never }).sign(secret);
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, hs256), "invalid_dpop_proof")).toMatch(/alg is not accepted/);
    const typed = await proofFor("/orders/1", tokens.orders!, {}, { typ: "JWT" });
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, typed), "invalid_dpop_proof")).toMatch(/typ/);
    const privateJwk = await exportJWK(key.pair.privateKey);
    const withPrivate = await proofFor("/orders/1", tokens.orders!, {}, { jwk: privateJwk });
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, withPrivate), "invalid_dpop_proof")).toMatch(/public key/);
    const noKey = await proofFor("/orders/1", tokens.orders!, {}, { jwk: undefined });
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, noKey), "invalid_dpop_proof")).toMatch(/public key/);
    expect(await expectDpopRefusal(await dpopCall("/orders/1", tokens.orders!, "not a jwt"), "invalid_dpop_proof")).toBe("malformed DPoP proof");
  });

  test("a bad token with the DPoP scheme → invalid_token under the DPoP challenge; a plain token with the DPoP scheme → invalid_token", async () => {
    expect(await expectDpopRefusal(await dpopCall("/orders/1", "not-a-jwt", await proofFor("/orders/1", "not-a-jwt")), "invalid_token")).toMatch(/not a JWT/);
    const plain = tokens.plain!;
    expect(await expectDpopRefusal(await dpopCall("/orders/1", plain, await proofFor("/orders/1", plain)), "invalid_token")).toMatch(/not bound to a DPoP key/);
  });

  test("plain bearer tokens still work on an API without the dpop policy, with the Bearer challenge on refusals", async () => {
    expect((await fetch(`${gateway}/orders/1`, { headers: { authorization: `Bearer ${tokens.plain!}` } })).status).toBe(200);
    const missing = await fetch(`${gateway}/orders/1`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer realm="gatehouse", error="invalid_token"/);
  });

  test("the dpop policy (required): a plain bearer token or none → 401 with the DPoP challenge; a bound token with its proof passes; public routes stay public", async () => {
    const bearer = await fetch(`${gateway}/strict/1`, { headers: { authorization: `Bearer ${tokens.plainStrict!}` } });
    expect(await expectDpopRefusal(bearer, "invalid_token")).toMatch(/DPoP-bound access tokens only/);
    expect(await expectDpopRefusal(await fetch(`${gateway}/strict/1`), "invalid_token")).toMatch(/DPoP-bound access token is required/);
    expect((await dpopCall("/strict/1", tokens.strict!, await proofFor("/strict/1", tokens.strict!))).status).toBe(200);
    // Its max_age_seconds (30) is the window here, not the gateway's 60.
    const old = await proofFor("/strict/1", tokens.strict!, { iat: Math.floor(Date.now() / 1000) - 45 });
    expect(await expectDpopRefusal(await dpopCall("/strict/1", tokens.strict!, old), "invalid_dpop_proof")).toMatch(/older than 30 seconds/);
    expect((await fetch(`${gateway}/strict-public/1`)).status).toBe(200);
  });

  test("gateway nonces (dpop policy require_nonce): without one → use_dpop_nonce and a DPoP-Nonce; with it → 200; a made-up one → use_dpop_nonce", async () => {
    const token = tokens.nonce!;
    const first = await dpopCall("/nonce/1", token, await proofFor("/nonce/1", token));
    const nonce = first.headers.get("dpop-nonce");
    expect(await expectDpopRefusal(first, "use_dpop_nonce")).toMatch(/requires a DPoP nonce/);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await dpopCall("/nonce/1", token, await proofFor("/nonce/1", token, { nonce: nonce! }))).status).toBe(200);
    expect(await expectDpopRefusal(await dpopCall("/nonce/1", token, await proofFor("/nonce/1", token, { nonce: "x".repeat(43) })), "use_dpop_nonce")).toMatch(/not current/);
    // Other DPoP routes do not ask for one.
    expect((await dpopCall("/strict/1", tokens.strict!, await proofFor("/strict/1", tokens.strict!))).status).toBe(200);
  });

  test("openid-client repeats the request with the gateway's nonce on its own", async () => {
    const handle = oidc.getDPoPHandle(config, key.pair);
    const response = await oidc.fetchProtectedResource(config, tokens.nonce!, new URL(`${gateway}/nonce/2`), "GET", undefined, undefined, { DPoP: handle });
    expect(response.status).toBe(200);
  });
});
