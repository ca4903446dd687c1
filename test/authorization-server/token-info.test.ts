// The token information service (/tokeninfo) over real HTTP on both databases: JWT and opaque access
// tokens of users and of clients described; refresh tokens, ID tokens, revoked, expired and made-up
// tokens refused with invalid_token; malformed requests answered with invalid_request; never cached;
// listed in discovery; rate-limited per source address.
import * as oidc from "openid-client";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const JWT_API = "https://orders.example.com";
const OPAQUE_API = "https://ledger.example.com";
const SHORT_API = "https://short.example.com";
const PASSWORD = "correct horse battery staple";

describe.each(BACKENDS)("token info on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let userId: string;
  const clients: Record<string, { id: string; secret?: string }> = {};

  beforeAll(async () => {
    db = await freshDatabase(backend);
    await withServices(db, async (services) => {
      await services.apis.apply({ identifier: JWT_API, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: OPAQUE_API, name: "Ledger", token_format: "opaque", scopes: ["ledger:read"] });
      await services.apis.apply({ identifier: SHORT_API, name: "Short", scopes: ["short:read"], access_token_ttl: 1 });
      const machine = await services.clients.create({ client_name: "machine", grant_types: ["client_credentials"], scopes: ["orders:read", "ledger:read", "short:read"] });
      clients.machine = { id: machine.client.client_id, secret: machine.client_secret };
      const legacy = await services.clients.create({ client_name: "legacy", grant_types: ["password", "refresh_token"], scopes: ["orders:read", "ledger:read"] });
      clients.legacy = { id: legacy.client.client_id, secret: legacy.client_secret };
      userId = (await services.users.create({ username: "alice", password: PASSWORD })).user.id;
    });
    gatehouse = await startGatehouse(db);
  }, 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const insecure = { execute: [oidc.allowInsecureRequests] };
  const configFor = (name: string) => oidc.discovery(new URL(gatehouse.issuer), clients[name]!.id, clients[name]!.secret, undefined, insecure);
  const machineToken = async (resource: string, scope: string) => (await oidc.clientCredentialsGrant(await configFor("machine"), { scope, resource })).access_token;
  const userTokens = async (params: Record<string, string>) =>
    oidc.genericGrantRequest(await configFor("legacy"), "password", { username: "alice", password: PASSWORD, ...params });

  async function tokenInfo(token: string, method: "GET" | "POST" = "GET") {
    const response =
      method === "GET"
        ? await fetch(`${gatehouse.issuer}/tokeninfo?access_token=${encodeURIComponent(token)}`)
        : await fetch(`${gatehouse.issuer}/tokeninfo`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ access_token: token }) });
    expect(response.headers.get("cache-control")).toBe("no-store");
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  test("discovery lists the endpoint as tokeninfo_endpoint", async () => {
    const metadata = (await (await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.tokeninfo_endpoint).toBe(`${gatehouse.issuer}/tokeninfo`);
  });

  test("a client's JWT access token: client_id, sub, scope, aud, expiry; no user", async () => {
    const { status, body } = await tokenInfo(await machineToken(JWT_API, "orders:read"));
    expect(status).toBe(200);
    expect(body).toMatchObject({ active: true, client_id: clients.machine!.id, sub: clients.machine!.id, scope: "orders:read", aud: JWT_API, iss: gatehouse.issuer, token_type: "Bearer" });
    expect(body.user_id).toBeUndefined();
    expect(body.expires_in).toBeGreaterThan(3500);
    expect(body.expires_in).toBeLessThanOrEqual(3600);
    expect(Math.abs((body.exp as number) - (Date.now() / 1000 + (body.expires_in as number)))).toBeLessThanOrEqual(1.5);
  });

  test("a user's JWT access token, by GET and by POST: user_id is the user", async () => {
    const { access_token } = await userTokens({ scope: "orders:read", resource: JWT_API });
    for (const method of ["GET", "POST"] as const) {
      const { status, body } = await tokenInfo(access_token, method);
      expect(status).toBe(200);
      expect(body).toMatchObject({ active: true, client_id: clients.legacy!.id, sub: userId, user_id: userId, scope: "orders:read", aud: JWT_API });
    }
  });

  test("opaque access tokens of a client and of a user", async () => {
    const machine = await tokenInfo(await machineToken(OPAQUE_API, "ledger:read"));
    expect(machine).toMatchObject({ status: 200, body: { active: true, client_id: clients.machine!.id, scope: "ledger:read", aud: OPAQUE_API } });
    expect(machine.body.user_id).toBeUndefined();
    const { access_token } = await userTokens({ scope: "ledger:read", resource: OPAQUE_API });
    expect(access_token.split(".")).toHaveLength(1);
    expect(await tokenInfo(access_token)).toMatchObject({ status: 200, body: { user_id: userId, client_id: clients.legacy!.id, scope: "ledger:read", aud: OPAQUE_API } });
  });

  test("refresh tokens, ID tokens and made-up tokens are invalid_token", async () => {
    const tokens = await userTokens({ scope: "openid offline_access orders:read", resource: JWT_API });
    for (const token of [tokens.refresh_token!, tokens.id_token!, "made-up", "a.b.c", "x".repeat(9000)]) {
      expect(await tokenInfo(token)).toEqual({ status: 400, body: { error: "invalid_token", error_description: "the access token is unknown, expired or revoked" } });
    }
  });

  test("revoked JWT and opaque tokens are invalid_token", async () => {
    const config = await configFor("machine");
    for (const [resource, scope] of [[JWT_API, "orders:read"], [OPAQUE_API, "ledger:read"]] as const) {
      const token = await machineToken(resource, scope);
      expect((await tokenInfo(token)).status).toBe(200);
      await oidc.tokenRevocation(config, token);
      expect(await tokenInfo(token)).toMatchObject({ status: 400, body: { error: "invalid_token" } });
    }
  });

  test("an expired token is invalid_token", async () => {
    const token = await machineToken(SHORT_API, "short:read");
    await new Promise((r) => setTimeout(r, 2100));
    expect(await tokenInfo(token)).toMatchObject({ status: 400, body: { error: "invalid_token" } });
  });

  test("malformed requests: no token, the token twice, in the URL of a POST, another method, another body type", async () => {
    const url = `${gatehouse.issuer}/tokeninfo`;
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const cases: Array<[string, RequestInit, number, string]> = [
      ["", {}, 400, "invalid_request"],
      ["?access_token=a&access_token=b", {}, 400, "invalid_request"],
      ["?access_token=a", { method: "POST", headers: form, body: "access_token=b" }, 400, "invalid_request"],
      ["?access_token=a", { method: "POST", headers: form, body: "" }, 400, "invalid_request"],
      ["", { method: "POST", headers: form, body: "access_token=a&access_token=b" }, 400, "invalid_request"],
      ["", { method: "POST", headers: { "content-type": "application/json" }, body: '{"access_token":"a"}' }, 415, "invalid_request"],
      ["", { method: "DELETE" }, 405, "invalid_request"],
    ];
    for (const [query, init, status, error] of cases) {
      const response = await fetch(url + query, init);
      expect([query, response.status]).toEqual([query, status]);
      expect(await response.json()).toMatchObject({ error });
      if (status === 405) expect(response.headers.get("allow")).toBe("GET, POST");
    }
  });

  test("requests beyond TOKENINFO_RATE_LIMIT per address per minute get 429 with Retry-After", async () => {
    const limited = await startGatehouse(db, { TOKENINFO_RATE_LIMIT: "5" });
    try {
      const statuses = [];
      for (let i = 0; i < 7; i++) statuses.push((await fetch(`${limited.issuer}/tokeninfo?access_token=x`)).status);
      expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429]);
      const refused = await fetch(`${limited.issuer}/tokeninfo?access_token=x`);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: "too_many_requests" });
    } finally {
      await limited.stop();
    }
  });
});
