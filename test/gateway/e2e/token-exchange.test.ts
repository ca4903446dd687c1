// Downstream token exchange (RFC 8693) through a real Gatehouse: with the token_exchange policy the
// backend receives a token meant only for its own API — the caller as sub, the gateway as act — never
// the caller's; one exchange per caller token while it is fresh; the caller's token revoked, the call
// is refused and the exchanged token is dead too; an exchange Gatehouse refuses is a 502.
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";

const FRONT = "https://front.example.com";
const BACKEND = "https://backend.example.com";
const LEDGER = "https://ledger.example.com";
const PASSWORD = "correct horse battery staple";

describe("gateway token exchange", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let app = { id: "", secret: "" };
  let alice = "";

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read" });
      await services.scopes.apply({ name: "ledger:write" });
      await services.apis.apply({ identifier: BACKEND, name: "Backend", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: LEDGER, name: "Ledger", scopes: ["ledger:write"], token_format: "opaque" });
      await services.apis.apply({ identifier: FRONT, name: "Front", scopes: ["orders:read"], policies: { token_exchange: { audience: BACKEND } } });
      // The backend's own API is reachable through the gateway too: an exchanged token is checked there like any other.
      await services.routes.apply(BACKEND, { path_prefix: "/backend", upstream: upstream.url, scopes: { "*": { all_of: ["orders:read"] } } });
      await services.routes.apply(FRONT, { path_prefix: "/orders", upstream: upstream.url, scopes: { "*": { all_of: ["orders:read"] } } });
      // The caller's token holds none of the Ledger's scopes: Gatehouse refuses that exchange.
      await services.routes.apply(FRONT, { path_prefix: "/ledger", upstream: upstream.url, policies: { token_exchange: { audience: LEDGER } } });
      await services.routes.apply(FRONT, { path_prefix: "/nowhere", upstream: upstream.url, policies: { token_exchange: { audience: "https://unknown.example.com" } } });
      const { client, client_secret } = await services.clients.create({ client_name: "app", grant_types: ["password"], scopes: ["orders:read"] });
      app = { id: client.client_id, secret: client_secret! };
      alice = (await services.users.create({ username: "alice", email: "alice@example.com", password: PASSWORD })).user.id;
    });
    gatehouse = await startGatehouse(db);
  }, 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  const gateway = (path: string, token: string) => fetch(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}${path}`, { headers: { authorization: `Bearer ${token}` } });

  async function aliceToken(): Promise<string> {
    const config = await oidc.discovery(new URL(gatehouse.issuer), app.id, app.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    return (await oidc.genericGrantRequest(config, "password", { username: "alice", password: PASSWORD, resource: FRONT })).access_token;
  }

  /** The Authorization header the backend received for the last request whose path ends with `suffix` (the route's prefix is stripped). */
  const received = (suffix: string) => upstream.received.filter((request) => request.url.endsWith(suffix)).at(-1)!.headers.authorization!;

  test("the backend receives a token for its own API with the caller as sub and the gateway as act, exchanged once per caller token", async () => {
    const caller = await aliceToken();
    expect((await gateway("/orders/1", caller)).status).toBe(200);
    const sent = received("/1");
    expect(sent).toMatch(/^Bearer /);
    const token = sent.slice("Bearer ".length);
    expect(token).not.toBe(caller);
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: alice, aud: BACKEND, scope: "orders:read", client_id: "gatehouse-gateway", act: { sub: "gatehouse-gateway" }, sgid: [decodeJwt(caller).gid] });
    expect(claims.exp!).toBeLessThanOrEqual(decodeJwt(caller).exp!);

    expect((await gateway("/orders/2", caller)).status).toBe(200);
    expect(received("/2")).toBe(sent);
    // Another caller token is exchanged on its own.
    expect((await gateway("/orders/3", await aliceToken())).status).toBe(200);
    expect(received("/3")).not.toBe(sent);
  });

  test("the caller's token revoked: the call is refused, and the exchanged token is refused by the gateway and no longer active", async () => {
    const caller = await aliceToken();
    expect((await gateway("/orders/before", caller)).status).toBe(200);
    const exchanged = received("/before").slice("Bearer ".length);
    expect((await gateway("/backend/with-exchanged", exchanged)).status).toBe(200);

    const basic = `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString("base64")}`;
    const revoke = await fetch(`${gatehouse.issuer}/revoke`, { method: "POST", headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: caller }) });
    expect(revoke.status).toBe(200);

    const refused = await gateway("/orders/after", caller);
    expect(refused.status).toBe(401);
    expect(upstream.received.some((request) => request.url.endsWith("/after"))).toBe(false);
    // The exchanged token itself is refused at the gateway now, and is not active at introspection.
    expect((await gateway("/backend/with-exchanged-after", exchanged)).status).toBe(401);
    const introspection = await fetch(`${gatehouse.issuer}/introspect`, {
      method: "POST", headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: exchanged }),
    });
    expect(await introspection.json()).toEqual({ active: false });
  });

  test("an exchange Gatehouse refuses (no shared scope, unknown API) is a 502 and the backend is not called", async () => {
    const caller = await aliceToken();
    for (const path of ["/ledger/x", "/nowhere/x"]) {
      const response = await gateway(path, caller);
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({ error: "bad_gateway" });
      expect(upstream.received.some((request) => request.url.endsWith("/x"))).toBe(false);
    }
    expect(gatehouse.output()).toContain('"reason":"token_exchange_failed"');
  });
});
