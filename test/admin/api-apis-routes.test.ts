// /v1/apis and their routes: identifiers percent-encoded in the path, policies merged by PATCH (an outbound
// OAuth secret never shown, the deprecated flat fields still read), route conflicts, paging, If-Match, and deleting an API with its routes.
import { BACKENDS } from "../helpers/databases.ts";
import { adminApiSuite } from "./api-harness.ts";

const ORDERS = "https://orders.example.com";
const ORDERS_PATH = `/v1/apis/${encodeURIComponent(ORDERS)}`;
const STALE = '"stale-version-000000"';

describe.each(BACKENDS)("admin API apis and routes on %s", (backend) => {
  const api = adminApiSuite(backend);

  beforeAll(async () => {
    const token = await api.writeToken();
    for (const name of ["orders:read", "orders:write"]) await api.call("POST", "/v1/scopes", { token, body: { name } });
  });

  test("APIs: create with an encoded Location, read it back, conflict, bad identifier, list and search", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/apis", { token, body: { identifier: ORDERS, name: "Orders", scopes: ["orders:read", "orders:write"] } });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api${ORDERS_PATH}`);
    expect(created.body).toMatchObject({ identifier: ORDERS, token_format: "jwt", access_token_ttl: 3600, policies: {} });
    const shown = await api.call("GET", ORDERS_PATH, { token });
    expect([shown.status, shown.headers.get("etag")]).toEqual([200, created.headers.get("etag")]);
    expect((await api.call("GET", `/v1/apis/urn:gatehouse:admin`, { token })).body.scopes).toEqual(["admin:read", "admin:write"]);

    expect((await api.call("POST", "/v1/apis", { token, body: { identifier: ORDERS, name: "Again" } })).status).toBe(409);
    const bad = await api.call("POST", "/v1/apis", { token, body: { identifier: "orders", name: "Relative" } });
    expect([bad.status, bad.body.errors[0].field]).toEqual([400, "identifier"]);
    expect((await api.call("GET", `/v1/apis/${encodeURIComponent("https://nowhere.example.com")}`, { token })).status).toBe(404);

    await api.call("POST", "/v1/apis", { token, body: { identifier: "https://billing.example.com", name: "Billing" } });
    const search = await api.call("GET", "/v1/apis?search=BILL", { token });
    expect(search.body).toMatchObject({ total: 1, items: [{ identifier: "https://billing.example.com" }] });
    const page = await api.call("GET", "/v1/apis?limit=1&offset=1", { token });
    expect(page.body).toMatchObject({ offset: 1, limit: 1, total: 3 });
    expect(page.body.items).toHaveLength(1);
  });

  test("APIs: PATCH merges fields and policies; the outbound secret is never shown; If-Match", async () => {
    const token = await api.writeToken();
    const identifier = "urn:example:ledger";
    const path = `/v1/apis/${encodeURIComponent(identifier)}`;
    const created = await api.call("POST", "/v1/apis", { token, body: { identifier, name: "Ledger", access_token_ttl: 900 } });

    const missingSecret = await api.call("PATCH", path, { token, body: { policies: { outbound_oauth: { token_url: "https://idp.example.com/token", client_id: "ledger" } } } });
    expect([missingSecret.status, missingSecret.body.errors[0].field]).toEqual([400, "policies.outbound_oauth.client_secret"]);
    const outbound = { token_url: "https://idp.example.com/token", client_id: "ledger", client_secret: "outbound-secret-value" };
    const withOutbound = await api.call("PATCH", path, { token, body: { policies: { outbound_oauth: outbound } }, headers: { "if-match": created.headers.get("etag")! } });
    expect(withOutbound.status).toBe(200);
    expect(withOutbound.body).toMatchObject({ name: "Ledger", access_token_ttl: 900, policies: { outbound_oauth: { client_id: "ledger", auth_method: "basic", has_client_secret: true } } });
    expect(JSON.stringify(withOutbound.body)).not.toContain("outbound-secret-value");

    const scoped = await api.call("PATCH", path, { token, body: { policies: { outbound_oauth: { scope: "ledger/.default" }, claim_headers: { claims: { email: "X-User-Email" } } } } });
    expect(scoped.body.policies).toMatchObject({
      outbound_oauth: { token_url: outbound.token_url, scope: "ledger/.default", has_client_secret: true },
      claim_headers: { claims: { email: "X-User-Email" } },
    });
    const stale = await api.call("PATCH", path, { token, body: { name: "Old" }, headers: { "if-match": withOutbound.headers.get("etag")! } });
    expect(stale.status).toBe(412);
    const detached = await api.call("PATCH", path, { token, body: { policies: { outbound_oauth: null } } });
    expect(detached.body.policies).toEqual({ claim_headers: { claims: { email: "X-User-Email" } } });
    const unknown = await api.call("PATCH", path, { token, body: { policies: { outbound_oauth: { colour: "red" } } } });
    expect([unknown.status, unknown.body.errors[0].field]).toEqual([400, "policies.outbound_oauth.colour"]);
    const identity = await api.call("PATCH", path, { token, body: { identifier: "urn:example:other" } });
    expect([identity.status, identity.body.errors[0].field]).toEqual([400, "identifier"]);

    // The flat fields of earlier releases are still taken, as the policies they now are; never both at once.
    const legacy = await api.call("PATCH", path, { token, body: { outbound_oauth: outbound, forward_token: "signed", claim_headers: {} } });
    expect(legacy.status).toBe(200);
    expect(legacy.body.policies).toEqual({ forward_token: { mode: "signed" }, outbound_oauth: expect.objectContaining({ client_id: "ledger", has_client_secret: true }) });
    expect(legacy.body).not.toHaveProperty("outbound_oauth");
    const twice = await api.call("PATCH", path, { token, body: { forward_token: "none", policies: { forward_token: null } } });
    expect([twice.status, twice.body.errors[0].field]).toEqual([400, "forward_token"]);
  });

  test("routes: add under the API, conflicts and bad input by field, list, show, change, delete", async () => {
    const token = await api.writeToken();
    const routes = `${ORDERS_PATH}/routes`;
    const route = { path_prefix: "/orders", upstream: "http://127.0.0.1:4000", scopes: { GET: { all_of: ["orders:read"] }, POST: { all_of: ["orders:write"] } } };
    const created = await api.call("POST", routes, { token, body: route });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api/v1/routes/${id}`);
    expect(created.body).toMatchObject({ api: ORDERS, path_prefix: "/orders", rewrite: "strip", scopes: { GET: { all_of: ["orders:read"], any_of: [] } } });

    const duplicate = await api.call("POST", routes, { token, body: route });
    expect([duplicate.status, duplicate.body.type]).toEqual([409, "https://gatehouse.dev/problems/conflict"]);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...route, path_prefix: "/orders/" }, "path_prefix"],
      [{ ...route, path_prefix: "/a/../b" }, "path_prefix"],
      [{ ...route, upstream: "ftp://x" }, "upstream"],
      [{ ...route, path_prefix: "/other", scopes: { GET: { all_of: ["nope:read"] } } }, "scopes.GET.all_of[0]"],
      [{ ...route, path_prefix: "/other", scopes: { FETCH: {} } }, "scopes.FETCH"],
    ];
    for (const [input, field] of cases) {
      const refused = await api.call("POST", routes, { token, body: input });
      expect([field, refused.status, refused.body.errors.map((e: { field: string }) => e.field)]).toEqual([field, 400, expect.arrayContaining([field])]);
    }
    expect((await api.call("POST", `/v1/apis/${encodeURIComponent("https://nowhere.example.com")}/routes`, { token, body: route })).status).toBe(404);
    expect((await api.call("GET", `/v1/apis/${encodeURIComponent("https://nowhere.example.com")}/routes`, { token })).status).toBe(404);

    const health = await api.call("POST", routes, { token, body: { path_prefix: "/orders/health", upstream: "http://127.0.0.1:4000", public: true } });
    const listed = await api.call("GET", `${routes}?search=health`, { token });
    expect(listed.body).toMatchObject({ total: 1, items: [{ id: health.body.id, public: true }] });
    expect((await api.call("GET", `${routes}?limit=1`, { token })).body).toMatchObject({ total: 2, limit: 1 });

    const shown = await api.call("GET", `/v1/routes/${id}`, { token });
    expect([shown.status, shown.headers.get("etag")]).toEqual([200, created.headers.get("etag")]);
    expect((await api.call("PATCH", `/v1/routes/${id}`, { token, body: { timeout_ms: 5000 }, headers: { "if-match": STALE } })).status).toBe(412);
    const changed = await api.call("PATCH", `/v1/routes/${id}`, { token, body: { timeout_ms: 5000 }, headers: { "if-match": shown.headers.get("etag")! } });
    expect(changed.body).toMatchObject({ timeout_ms: 5000, path_prefix: "/orders", scopes: { POST: { all_of: ["orders:write"] } } });
    const clash = await api.call("PATCH", `/v1/routes/${health.body.id}`, { token, body: { path_prefix: "/orders", public: false } });
    expect(clash.status).toBe(409);
    const publicWithScopes = await api.call("PATCH", `/v1/routes/${id}`, { token, body: { public: true } });
    expect([publicWithScopes.status, publicWithScopes.body.errors[0].field]).toEqual([400, "scopes"]);

    expect((await api.call("DELETE", `/v1/routes/${health.body.id}`, { token, headers: { "if-match": STALE } })).status).toBe(412);
    expect((await api.call("DELETE", `/v1/routes/${health.body.id}`, { token })).status).toBe(204);
    expect((await api.call("GET", `/v1/routes/${health.body.id}`, { token })).status).toBe(404);
    expect((await api.call("PATCH", `/v1/routes/${health.body.id}`, { token, body: {} })).status).toBe(404);
  });

  test("policies: the catalog, attaching a rate limit and CORS to an API and a route, and malformed ones refused as problems naming the field", async () => {
    const token = await api.writeToken();
    const catalog = await api.call("GET", "/v1/policies", { token });
    expect(catalog.body.items.map((p: { id: string }) => p.id)).toEqual(["cors", "rate_limit", "claim_headers", "forward_token", "token_exchange", "outbound_oauth", "dpop"]);
    expect(catalog.body.items[1]).toMatchObject({ id: "rate_limit", stages: ["authorize", "forward"], attach_to: ["api", "route"], combine: "add", schema: { required: ["limits"] } });

    const identifier = "https://catalog.example.com";
    const path = `/v1/apis/${encodeURIComponent(identifier)}`;
    const cors = { origins: ["https://shop.example"], credentials: true };
    const created = await api.call("POST", "/v1/apis", { token, body: { identifier, name: "Catalog", policies: { cors, rate_limit: { limits: [{ by: "client", requests: 100, per: "minute" }] } } } });
    expect(created.status).toBe(201);
    expect(created.body.policies).toEqual({
      cors: { ...cors, methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], headers: ["Authorization", "Content-Type"], expose_headers: [], max_age: 600 },
      rate_limit: { limits: [{ by: "client", requests: 100, per: "minute" }] },
    });
    const route = await api.call("POST", `${path}/routes`, { token, body: { path_prefix: "/catalog", upstream: "http://127.0.0.1:4000", public: true, policies: { rate_limit: { limits: [{ by: "address", requests: 10, per: "second", burst: 20 }] } } } });
    expect([route.status, route.body.policies]).toEqual([201, { rate_limit: { limits: [{ by: "address", requests: 10, per: "second", burst: 20 }] } }]);
    // PATCH merges a policy's fields into the attached one's.
    const merged = await api.call("PATCH", path, { token, body: { policies: { cors: { max_age: 60 } } } });
    expect(merged.body.policies.cors).toMatchObject({ origins: cors.origins, credentials: true, max_age: 60 });

    const refusals: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
      ["PATCH", path, { policies: { cors: { origins: ["*"] } } }, "policies.cors.origins[0]", /credentials need the origins listed/],
      ["PATCH", path, { policies: { cors: { origins: ["https://shop.example/"] } } }, "policies.cors.origins[0]", /an origin exactly as browsers send it/],
      ["PATCH", path, { policies: { cors: { max_age: 100000 } } }, "policies.cors.max_age", /Too big/],
      ["PATCH", path, { policies: { rate_limit: { limits: [] } } }, "policies.rate_limit.limits", /Too small/],
      ["PATCH", path, { policies: { rate_limit: { limits: [{ by: "tenant", requests: 1, per: "minute" }] } } }, "policies.rate_limit.limits[0].by", /Invalid option/],
      ["PATCH", path, { policies: { rate_limit: { limits: [{ by: "client", requests: 1, per: "day" }] } } }, "policies.rate_limit.limits[0].per", /Invalid option/],
      ["PATCH", path, { policies: { rate_limit: { limits: [{ by: "client", requests: 1, per: "minute" }, { by: "client", requests: 9, per: "minute" }] } } }, "policies.rate_limit.limits[1].name", /two limits are named client-per-minute/],
      ["PATCH", path, { policies: { throttle: {} } }, "policies.throttle", /unknown field/],
      ["POST", "/v1/apis", { identifier: "https://other.example.com", name: "Other", policies: { rate_limit: { limits: [{ by: "client", requests: -1, per: "minute" }] } } }, "policies.rate_limit.limits[0].requests", /Too small/],
      ["PATCH", `/v1/routes/${route.body.id}`, { policies: { rate_limit: { limits: [{ by: "client", requests: 5, per: "second" }] } } }, "policies.rate_limit.limits[0].by", /a public route has no token to count by client/],
    ];
    for (const [method, at, body, field, message] of refusals) {
      const refused = await api.call(method, at, { token, body });
      expect([field, refused.status, refused.headers.get("content-type"), refused.body.type]).toEqual([field, 400, "application/problem+json", "https://gatehouse.dev/problems/invalid_input"]);
      expect(refused.body.errors).toContainEqual({ field, message: expect.stringMatching(message) });
    }
    // Nothing refused was stored.
    expect((await api.call("GET", path, { token })).body.policies).toEqual(merged.body.policies);
    expect((await api.call("GET", `/v1/apis/${encodeURIComponent("https://other.example.com")}`, { token })).status).toBe(404);
  });

  test("deleting an API deletes its routes; If-Match guards it", async () => {
    const token = await api.writeToken();
    const identifier = "https://shop.example.com";
    const path = `/v1/apis/${encodeURIComponent(identifier)}`;
    const created = await api.call("POST", "/v1/apis", { token, body: { identifier, name: "Shop" } });
    const route = await api.call("POST", `${path}/routes`, { token, body: { path_prefix: "/shop", upstream: "http://127.0.0.1:4001", public: true } });
    expect((await api.call("DELETE", path, { token, headers: { "if-match": STALE } })).status).toBe(412);
    expect((await api.call("DELETE", path, { token, headers: { "if-match": created.headers.get("etag")! } })).status).toBe(204);
    expect((await api.call("GET", path, { token })).status).toBe(404);
    expect((await api.call("GET", `/v1/routes/${route.body.id}`, { token })).status).toBe(404);
    expect((await api.call("DELETE", path, { token })).status).toBe(404);
  });
});
