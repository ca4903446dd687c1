// /v1/clients and /v1/scopes: every operation's success and refusals, paging, ETags and If-Match, and
// secrets shown once (and real: the generated secret gets a token).
import { BACKENDS } from "../helpers/databases.ts";
import { configPropagation } from "../helpers/gatehouse.ts";
import { adminApiSuite } from "./api-harness.ts";

const STALE = '"stale-version-000000"';

describe.each(BACKENDS)("admin API clients and scopes on %s", (backend) => {
  const api = adminApiSuite(backend);
  const path = (location: string | null) => new URL(location!).pathname.replace("/admin/api", "");

  test("create a client: 201 with Location, ETag and the generated secret once; the secret works", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token, body: { client_name: "Reporter", grant_types: ["client_credentials"], scopes: ["admin:read"] } });
    expect(created.status).toBe(201);
    const id = created.body.client_id as string;
    expect(Object.keys(created.body).slice(0, 2)).toEqual(["client_id", "client_secret"]);
    expect(created.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api/v1/clients/${id}`);

    const shown = await api.call("GET", path(created.headers.get("location")), { token });
    expect(shown.status).toBe(200);
    expect(shown.body).not.toHaveProperty("client_secret");
    expect(shown.body).toMatchObject({ client_id: id, client_name: "Reporter", has_secret: true, public: false });
    expect(shown.headers.get("etag")).toBe(created.headers.get("etag"));

    await configPropagation();
    const own = await api.token(created.body, "admin:read");
    expect((await api.call("GET", `/v1/clients/${id}`, { token: own })).status).toBe(200);
  });

  test("client refusals: an existing client_id is 409, bad input names its field, an unknown client is 404", async () => {
    const token = await api.writeToken();
    const body = { client_id: "web-app", client_name: "Web", redirect_uris: ["https://app.example.com/cb"] };
    expect((await api.call("POST", "/v1/clients", { token, body })).status).toBe(201);
    const again = await api.call("POST", "/v1/clients", { token, body });
    expect([again.status, again.body.type, again.body.detail]).toEqual([409, "https://gatehouse.dev/problems/conflict", "client web-app already exists"]);

    const cases: Array<[Record<string, unknown>, string]> = [
      [{ client_name: "No redirect" }, "redirect_uris"],
      [{ client_name: "Bad uri", redirect_uris: ["not a uri"] }, "redirect_uris[0]"],
      [{ client_name: "Unknown scope", grant_types: ["client_credentials"], scopes: ["nope:read"] }, "scopes[0]"],
      [{ client_name: "" }, "client_name"],
      [{ client_name: "Typo", grant_type: ["client_credentials"] }, "grant_type"],
      [{ client_name: "Path", grant_types: ["client_credentials"], allowed_origins: ["https://app.example.com/"] }, "allowed_origins[0]"],
      [{ client_name: "Wildcard", grant_types: ["client_credentials"], allowed_origins: ["*"] }, "allowed_origins[0]"],
      [{ client_name: "Plain http", grant_types: ["client_credentials"], allowed_origins: ["http://app.example.com"] }, "allowed_origins[0]"],
    ];
    for (const [input, field] of cases) {
      const refused = await api.call("POST", "/v1/clients", { token, body: input });
      expect([field, refused.status, refused.body.errors.map((e: { field: string }) => e.field)]).toEqual([field, 400, expect.arrayContaining([field])]);
    }
    for (const [method, suffix] of [["GET", ""], ["PATCH", ""], ["DELETE", ""], ["POST", "/rotate-secret"], ["POST", "/revoke-tokens"]] as const) {
      const missing = await api.call(method, `/v1/clients/no-such-client${suffix}`, { token, ...(method === "GET" || method === "DELETE" ? {} : { body: {} }) });
      expect([method, suffix, missing.status, missing.body.detail]).toEqual([method, suffix, 404, "client no-such-client not found"]);
    }
  });

  test("allowed_origins set through the API decide CORS at the token endpoint at once", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token, body: { client_name: "Ops", grant_types: ["client_credentials"], scopes: ["admin:read"] } });
    expect(created.body.allowed_origins).toEqual([]);
    const id = created.body.client_id as string;
    const changed = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { allowed_origins: ["https://ops.example.com"] } });
    expect([changed.status, changed.body.allowed_origins]).toEqual([200, ["https://ops.example.com"]]);
    const tokenFrom = (origin: string) =>
      fetch(`${api.gatehouse.issuer}/token`, {
        method: "POST",
        headers: { origin, authorization: `Basic ${Buffer.from(`${id}:${created.body.client_secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials&scope=admin%3Aread",
      });
    const allowed = await tokenFrom("https://ops.example.com");
    expect([allowed.status, allowed.headers.get("access-control-allow-origin")]).toEqual([200, "https://ops.example.com"]);
    const other = await tokenFrom("https://elsewhere.example.com");
    expect([other.status, other.headers.get("access-control-allow-origin")]).toEqual([400, null]);
  });

  test("a change is live in this process when the answer arrives: a client created gets a token at once", async () => {
    const token = await api.writeToken();
    for (let i = 0; i < 5; i++) {
      const created = await api.call("POST", "/v1/clients", { token, body: { client_name: `Instant ${i}`, grant_types: ["client_credentials"], scopes: ["admin:read"] } });
      // No wait: the catalog was refreshed before the API answered.
      expect((await api.call("GET", "/v1/scopes", { token: await api.token(created.body, "admin:read") })).status).toBe(200);
    }
  });

  test("the console's client, the admin API and its scopes cannot be deleted (409), and stay", async () => {
    const token = await api.writeToken();
    for (const path of ["/v1/clients/gatehouse-console", `/v1/apis/${encodeURIComponent("urn:gatehouse:admin")}`, "/v1/scopes/admin:read", "/v1/scopes/admin:write"]) {
      const refused = await api.call("DELETE", path, { token });
      expect([path, refused.status, refused.body.detail]).toEqual([path, 409, expect.stringContaining("is built in")]);
      expect((await api.call("GET", path, { token })).status).toBe(200);
    }
  });

  test("list clients: search, offset and limit, total", async () => {
    const token = await api.writeToken();
    for (const n of [1, 2, 3]) {
      await api.call("POST", "/v1/clients", { token, body: { client_id: `paged-${n}`, client_name: `Paged ${n}`, grant_types: ["client_credentials"] } });
    }
    const first = await api.call("GET", "/v1/clients?search=PAGED&limit=2", { token });
    expect(first.body).toMatchObject({ total: 3, offset: 0, limit: 2 });
    expect(first.body.items.map((c: { client_id: string }) => c.client_id)).toEqual(["paged-1", "paged-2"]);
    const rest = await api.call("GET", "/v1/clients?search=paged&offset=2&limit=2", { token });
    expect(rest.body.items.map((c: { client_id: string }) => c.client_id)).toEqual(["paged-3"]);
    const all = await api.call("GET", "/v1/clients", { token });
    expect(all.body.limit).toBe(50);
    expect(all.body.total).toBeGreaterThanOrEqual(3);
  });

  test("change a client: If-Match current → 200 with a new ETag, stale → 412; fields sent only", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token, body: { client_name: "Mutable", grant_types: ["client_credentials"], access_token_ttl: 600 } });
    const id = created.body.client_id as string;
    const etag = created.headers.get("etag")!;

    const stale = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { client_name: "Lost update" }, headers: { "if-match": STALE } });
    expect([stale.status, stale.body.type]).toEqual([412, "https://gatehouse.dev/problems/precondition_failed"]);

    const changed = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { client_name: "Renamed" }, headers: { "if-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ client_name: "Renamed", access_token_ttl: 600, grant_types: ["client_credentials"] });
    expect(changed.headers.get("etag")).not.toBe(etag);
    const late = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { client_name: "Based on the old version" }, headers: { "if-match": etag } });
    expect(late.status).toBe(412);
    expect((await api.call("PATCH", `/v1/clients/${id}`, { token, body: { access_token_ttl: null } })).body.access_token_ttl).toBeNull();

    const idChange = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { client_id: "other" } });
    expect([idChange.status, idChange.body.errors]).toEqual([400, [{ field: "client_id", message: "unknown field" }]]);
    const rule = await api.call("PATCH", `/v1/clients/${id}`, { token, body: { public: true } });
    expect([rule.status, rule.body.errors[0].field]).toEqual([400, "token_endpoint_auth_method"]);
  });

  test("rotate a client's secret (with grace) and revoke its tokens", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token, body: { client_name: "Rotating", grant_types: ["client_credentials"] } });
    const id = created.body.client_id as string;

    const rotated = await api.call("POST", `/v1/clients/${id}/rotate-secret`, { token, body: { grace_seconds: 600 } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(created.body.client_secret);
    expect(Date.parse(rotated.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(590_000);
    const atOnce = await api.call("POST", `/v1/clients/${id}/rotate-secret`, { token });
    expect(atOnce.body.previous_secret_expires_at).toBeNull();

    const badGrace = await api.call("POST", `/v1/clients/${id}/rotate-secret`, { token, body: { grace_seconds: -1 } });
    expect([badGrace.status, badGrace.body.errors[0].field]).toEqual([400, "grace_seconds"]);
    const spa = await api.call("POST", "/v1/clients", { token, body: { client_name: "SPA", public: true, redirect_uris: ["https://spa.example.com/cb"] } });
    expect(spa.body).not.toHaveProperty("client_secret");
    const noSecret = await api.call("POST", `/v1/clients/${spa.body.client_id}/rotate-secret`, { token });
    expect([noSecret.status, noSecret.body.detail]).toEqual([400, `client ${spa.body.client_id} does not authenticate with a secret`]);

    const revoked = await api.call("POST", `/v1/clients/${id}/revoke-tokens`, { token });
    expect(revoked.body).toEqual({ client_id: id, artifacts_revoked: expect.any(Number), not_before: expect.any(String) });
    const withBody = await api.call("POST", `/v1/clients/${id}/revoke-tokens`, { token, body: { everything: true } });
    expect([withBody.status, withBody.body.errors[0].field]).toEqual([400, "everything"]);
  });

  test("delete a client: stale If-Match 412, then 204, then 404", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token, body: { client_name: "Doomed", grant_types: ["client_credentials"] } });
    const id = created.body.client_id as string;
    expect((await api.call("DELETE", `/v1/clients/${id}`, { token, headers: { "if-match": STALE } })).status).toBe(412);
    const deleted = await api.call("DELETE", `/v1/clients/${id}`, { token, headers: { "if-match": created.headers.get("etag")! } });
    expect([deleted.status, deleted.body]).toEqual([204, ""]);
    expect((await api.call("GET", `/v1/clients/${id}`, { token })).status).toBe(404);
    expect((await api.call("DELETE", `/v1/clients/${id}`, { token })).status).toBe(404);
  });

  test("scopes: create, conflict, bad names, list and search, change with If-Match, delete", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/scopes", { token, body: { name: "orders:read", description: "Read your orders" } });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api/v1/scopes/orders%3Aread`);
    expect((await api.call("GET", path(created.headers.get("location")), { token })).body).toEqual({ name: "orders:read", description: "Read your orders" });
    expect((await api.call("POST", "/v1/scopes", { token, body: { name: "orders:read" } })).status).toBe(409);
    for (const name of ["has space", 'quote"d', ""]) {
      const bad = await api.call("POST", "/v1/scopes", { token, body: { name } });
      expect([name, bad.status, bad.body.errors[0].field]).toEqual([name, 400, "name"]);
    }
    await api.call("POST", "/v1/scopes", { token, body: { name: "orders:write", description: "Change your orders" } });

    const search = await api.call("GET", "/v1/scopes?search=ORDERS", { token });
    expect(search.body).toMatchObject({ total: 2, offset: 0, limit: 50 });
    const page = await api.call("GET", "/v1/scopes?search=orders&offset=1&limit=1", { token });
    expect(page.body).toEqual({ items: [{ name: "orders:write", description: "Change your orders" }], total: 2, offset: 1, limit: 1 });
    expect((await api.call("GET", "/v1/scopes?search=change%20your", { token })).body.items.map((s: { name: string }) => s.name)).toEqual(["orders:write"]);

    const etag = created.headers.get("etag")!;
    expect((await api.call("PATCH", "/v1/scopes/orders:read", { token, body: { description: "x" }, headers: { "if-match": STALE } })).status).toBe(412);
    const changed = await api.call("PATCH", "/v1/scopes/orders:read", { token, body: { description: "See your orders" }, headers: { "if-match": etag } });
    expect([changed.status, changed.body.description]).toEqual([200, "See your orders"]);
    const rename = await api.call("PATCH", "/v1/scopes/orders:read", { token, body: { name: "orders:see" } });
    expect([rename.status, rename.body.errors[0].field]).toEqual([400, "name"]);
    expect((await api.call("PATCH", "/v1/scopes/nope:nope", { token, body: {} })).status).toBe(404);

    expect((await api.call("DELETE", "/v1/scopes/orders%3Awrite", { token })).status).toBe(204);
    expect((await api.call("GET", "/v1/scopes/orders:write", { token })).status).toBe(404);
    expect((await api.call("DELETE", "/v1/scopes/orders:write", { token })).status).toBe(404);
  });
});
