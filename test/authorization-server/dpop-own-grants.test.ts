// DPoP (RFC 9449 §5) on the grants Gatehouse registers itself (password, JWT and SAML bearer, token
// exchange): oidc-provider binds only its built-in grants' tokens, so these check the proof themselves
// (grants/dpop-binding.ts). A proof binds the access token (cnf.jkt, token_type DPoP); a client
// registered with dpop_bound_access_tokens cannot get a bearer token through them; a bad or replayed
// proof is invalid_dpop_proof.
import crypto from "node:crypto";
import { decodeJwt, UnsecuredJWT } from "jose";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { dpopKey, type DpopKey } from "../helpers/dpop.ts";

const API = "https://orders.example.com";
const INVENTORY = "https://inventory.example.com";
const PASSWORD = "correct horse battery staple";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

describe("DPoP on Gatehouse's own grants", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<"plain" | "bound" | "exchanger", { id: string; secret: string }> = {} as never;
  let proofKey: DpopKey;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    proofKey = await dpopKey();
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: INVENTORY, name: "Inventory", scopes: ["orders:read"] });
      for (const [name, bound] of [["plain", false], ["bound", true]] as const) {
        const created = await services.clients.create({ client_name: name, grant_types: ["password"], scopes: ["orders:read"], dpop_bound_access_tokens: bound });
        clients[name] = { id: created.client.client_id, secret: created.client_secret! };
      }
      const exchanger = await services.clients.create({ client_name: "exchanger", grant_types: [TOKEN_EXCHANGE], token_exchange_targets: [INVENTORY] });
      clients.exchanger = { id: exchanger.client.client_id, secret: exchanger.client_secret! };
      await services.users.create({ username: "alice", password: PASSWORD, email: "alice@example.com" });
    });
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  /** A DPoP proof for POST /token. */
  function proof(claims: Record<string, unknown> = {}, signer = proofKey): Promise<string> {
    return signer.proof({ htm: "POST", htu: `${gatehouse.issuer}/token`, ...claims });
  }

  async function token(client: keyof typeof clients, params: Record<string, string>, dpop?: string) {
    const { id, secret } = clients[client];
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`,
        ...(dpop ? { dpop } : {}),
      },
      body: new URLSearchParams(params),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }

  const password = { grant_type: "password", username: "alice", password: PASSWORD, resource: API };

  test("password grant with a proof: a DPoP-bound access token (cnf.jkt of the proof's key, token_type DPoP)", async () => {
    const answer = await token("plain", password, await proof());
    expect(answer).toMatchObject({ status: 200, body: { token_type: "DPoP" } });
    expect(decodeJwt(answer.body.access_token!)).toMatchObject({ cnf: { jkt: proofKey.jkt } });
    // Without one, the same client gets a bearer token.
    const bearer = await token("plain", password);
    expect(bearer.body.token_type).toBe("Bearer");
    expect(decodeJwt(bearer.body.access_token!).cnf).toBeUndefined();
  });

  test("a client registered with dpop_bound_access_tokens gets no bearer token through the password grant", async () => {
    expect(await token("bound", password)).toMatchObject({ status: 400, body: { error: "invalid_grant", error_description: expect.stringContaining("DPoP") } });
    const bound = await token("bound", password, await proof());
    expect(bound).toMatchObject({ status: 200, body: { token_type: "DPoP" } });
  });

  test("a replayed proof, one for another URL or method, a stale one and an unsigned one are invalid_dpop_proof", async () => {
    const once = await proof();
    expect((await token("plain", password, once)).status).toBe(200);
    const refusals = [
      once,
      await proof({ htu: `${gatehouse.issuer}/userinfo` }),
      await proof({ htm: "GET" }),
      await proof({ iat: Math.floor(Date.now() / 1000) - 3600 }),
      new UnsecuredJWT({ htm: "POST", htu: `${gatehouse.issuer}/token`, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000) }).encode(),
    ];
    for (const bad of refusals) expect(await token("plain", password, bad)).toMatchObject({ status: 400, body: { error: "invalid_dpop_proof" } });
  });

  test("a DPoP-bound subject token is exchanged only with a proof of its key: never unbound by whoever holds the token", async () => {
    const bound = (await token("plain", password, await proof())).body.access_token!;
    const exchange = { grant_type: TOKEN_EXCHANGE, subject_token: bound, subject_token_type: ACCESS_TOKEN, resource: INVENTORY };
    expect(await token("exchanger", exchange)).toMatchObject({ status: 400, body: { error: "invalid_grant", error_description: expect.stringContaining("DPoP-bound") } });
    const strangerProof = await proof({}, await dpopKey());
    expect(await token("exchanger", exchange, strangerProof)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    const same = await token("exchanger", exchange, await proof());
    expect(same).toMatchObject({ status: 200, body: { token_type: "DPoP" } });
    expect(decodeJwt(same.body.access_token!)).toMatchObject({ cnf: { jkt: proofKey.jkt } });
  });

  test("token exchange with a proof: the exchanged token is bound to the exchanging client's key", async () => {
    const subject = (await token("plain", password)).body.access_token!;
    const answer = await token("exchanger", { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY }, await proof());
    expect(answer).toMatchObject({ status: 200, body: { token_type: "DPoP", issued_token_type: ACCESS_TOKEN } });
    expect(decodeJwt(answer.body.access_token!)).toMatchObject({ aud: INVENTORY, cnf: { jkt: proofKey.jkt } });
  });
});

describe("DPoP nonces on Gatehouse's own grants (DPOP_REQUIRE_NONCE)", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let client = { id: "", secret: "" };
  let proofKey: DpopKey;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    proofKey = await dpopKey();
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      const created = await services.clients.create({ client_name: "app", grant_types: ["password"], scopes: ["orders:read"] });
      client = { id: created.client.client_id, secret: created.client_secret! };
      await services.users.create({ username: "alice", password: PASSWORD, email: "alice@example.com" });
    });
    gatehouse = await startGatehouse(db, { DPOP_REQUIRE_NONCE: "true" });
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  async function passwordGrant(claims: Record<string, unknown>) {
    const proof = await proofKey.proof({ htm: "POST", htu: `${gatehouse.issuer}/token`, ...claims });
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`, dpop: proof },
      body: new URLSearchParams({ grant_type: "password", username: "alice", password: PASSWORD, resource: API }),
    });
    return { status: response.status, nonce: response.headers.get("dpop-nonce"), body: (await response.json()) as Record<string, string> };
  }

  test("a proof without a nonce, or with one not of Gatehouse's, gets use_dpop_nonce and a DPoP-Nonce; with it, a bound token", async () => {
    const first = await passwordGrant({});
    expect(first).toMatchObject({ status: 400, body: { error: "use_dpop_nonce" } });
    expect(first.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await passwordGrant({ nonce: "x".repeat(43) })).toMatchObject({ status: 400, body: { error: "use_dpop_nonce" } });
    const second = await passwordGrant({ nonce: first.nonce });
    expect(second).toMatchObject({ status: 200, body: { token_type: "DPoP" } });
  });
});
