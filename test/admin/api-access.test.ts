// Who may call the admin API: a Gatehouse access token for urn:gatehouse:admin (missing, invalid, for
// another audience, revoked, admin:read against admin:write), or a console session (CSRF token and
// origin for changes, viewers read only), and the README's automation client made with the CLI.
import { BACKENDS } from "../helpers/databases.ts";
import { configPropagation } from "../helpers/gatehouse.ts";
import { gatehouseCli } from "../cli/gatehouse.ts";
import { adminApiSuite } from "./api-harness.ts";

const ORDERS = "https://orders.example.com";

describe.each(BACKENDS)("admin API access on %s", (backend) => {
  const api = adminApiSuite(backend);

  test("without credentials: 401 with a Bearer challenge", async () => {
    const answer = await api.call("GET", "/v1/clients");
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="gatehouse-admin"');
    expect(answer.body.type).toBe("https://gatehouse.dev/problems/unauthorized");
  });

  test("a token that is not valid for the admin API: 401 invalid_token", async () => {
    const write = await api.writeToken();
    // A token of Gatehouse's own, for another API: set up through the admin API itself.
    expect((await api.call("POST", "/v1/scopes", { token: write, body: { name: "orders:read" } })).status).toBe(201);
    expect((await api.call("POST", "/v1/apis", { token: write, body: { identifier: ORDERS, name: "Orders", scopes: ["orders:read"] } })).status).toBe(201);
    const worker = await api.call("POST", "/v1/clients", { token: write, body: { client_name: "Orders worker", grant_types: ["client_credentials"], scopes: ["orders:read"] } });
    await configPropagation();
    const otherAudience = await api.token(worker.body, "orders:read", ORDERS);

    const refusals = [
      { authorization: "Bearer not-a-token" },
      { authorization: "Bearer" },
      { authorization: "Bearer a b" },
      { authorization: `Bearer ${otherAudience}` },
      { authorization: `Bearer ${write}x` },
    ];
    for (const headers of refusals) {
      const answer = await api.call("GET", "/v1/clients", { headers });
      expect([headers.authorization.slice(0, 20), answer.status, answer.body.type]).toEqual([headers.authorization.slice(0, 20), 401, "https://gatehouse.dev/problems/invalid_token"]);
      expect(answer.headers.get("www-authenticate")).toMatch(/^Bearer realm="gatehouse-admin", error="invalid_token", error_description="[^"]+"$/);
    }
    // Another scheme is not a token of ours: the same as no credentials.
    const basic = await api.call("GET", "/v1/clients", { headers: { authorization: "Basic YTpi" } });
    expect([basic.status, basic.body.type]).toEqual([401, "https://gatehouse.dev/problems/unauthorized"]);
  });

  test("a revoked token, and a disabled client's token, are refused", async () => {
    const write = await api.writeToken();
    const created = await api.call("POST", "/v1/clients", { token: write, body: { client_name: "short-lived", grant_types: ["client_credentials"], scopes: ["admin:read"] } });
    const id = created.body.client_id as string;
    await configPropagation();
    const token = await api.token(created.body, "admin:read");
    expect((await api.call("GET", "/v1/scopes", { token })).status).toBe(200);

    expect((await api.call("POST", `/v1/clients/${id}/revoke-tokens`, { token: write })).status).toBe(200);
    await configPropagation();
    expect((await api.call("GET", "/v1/scopes", { token })).status).toBe(401);

    // A second later (not-before marks have one-second resolution), a new token works until the client is disabled.
    await new Promise((r) => setTimeout(r, 1100));
    const again = await api.token(created.body, "admin:read");
    expect((await api.call("GET", "/v1/scopes", { token: again })).status).toBe(200);
    expect((await api.call("PATCH", `/v1/clients/${id}`, { token: write, body: { enabled: false } })).status).toBe(200);
    await configPropagation();
    expect((await api.call("GET", "/v1/scopes", { token: again })).status).toBe(401);
  });

  test("admin:read reads; a change needs admin:write (403 insufficient_scope), which reads too", async () => {
    const read = await api.token(api.reader, "admin:read");
    expect((await api.call("GET", "/v1/users", { token: read })).status).toBe(200);
    const refused = await api.call("POST", "/v1/scopes", { token: read, body: { name: "reports:read" } });
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe("https://gatehouse.dev/problems/insufficient_scope");
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="gatehouse-admin", error="insufficient_scope", error_description="changes need the admin:write scope", scope="admin:write"');
    expect((await api.call("GET", "/v1/scopes/reports:read", { token: read })).status).toBe(404);

    const writeOnly = await api.token(api.writer, "admin:write");
    expect((await api.call("GET", "/v1/keys", { token: writeOnly })).status).toBe(200);
    expect((await api.call("POST", "/v1/scopes", { token: writeOnly, body: { name: "reports:read" } })).status).toBe(201);
  });

  test("a valid token for the admin API without an admin scope: 403 insufficient_scope naming admin:read", async () => {
    const write = await api.writeToken();
    await api.call("POST", "/v1/scopes", { token: write, body: { name: "reports:export" } });
    const created = await api.call("POST", "/v1/clients", { token: write, body: { client_name: "Half", grant_types: ["client_credentials"], scopes: ["admin:read", "reports:export"] } });
    await configPropagation();
    const scopeless = await api.token(created.body, "reports:export");
    const refused = await api.call("GET", "/v1/scopes", { token: scopeless });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="gatehouse-admin", error="insufficient_scope", error_description="reading needs the admin:read scope", scope="admin:read"');
  });

  test("a console admin's session reads, and changes with the session's CSRF token from the console's origin", async () => {
    const { agent, csrf } = await api.signIn("ada");
    const origin = api.gatehouse.issuer;
    expect((await api.call("GET", "/v1/users?search=ada", { agent })).body.items.map((u: { username: string }) => u.username)).toEqual(["ada"]);

    const body = { name: "session:made" };
    const forged: Array<Record<string, string>> = [
      {},
      { "x-csrf-token": "not-the-token" },
      { "x-csrf-token": csrf, origin: "https://evil.example" },
      { "x-csrf-token": csrf, "sec-fetch-site": "cross-site" },
    ];
    for (const headers of forged) {
      const answer = await api.call("POST", "/v1/scopes", { agent, body, headers });
      expect([headers, answer.status, answer.body.type]).toEqual([headers, 403, "https://gatehouse.dev/problems/csrf_failed"]);
    }
    const made = await api.call("POST", "/v1/scopes", { agent, body, headers: { "x-csrf-token": csrf, origin, "sec-fetch-site": "same-origin" } });
    expect(made.status).toBe(201);
    const audit = await api.call("GET", "/v1/audit?entity_type=scope&entity_id=session:made", { agent });
    expect(audit.body.items).toMatchObject([{ action: "create", actor_kind: "admin", actor: "ada" }]);
  });

  test("a console viewer reads and cannot change; a session that ended is 401", async () => {
    const { agent, csrf } = await api.signIn("viv");
    expect((await api.call("GET", "/v1/clients", { agent })).status).toBe(200);
    const refused = await api.call("DELETE", "/v1/scopes/admin:read", { agent, headers: { "x-csrf-token": csrf } });
    expect([refused.status, refused.body.type]).toEqual([403, "https://gatehouse.dev/problems/forbidden"]);

    expect((await api.call("POST", "/v1/users/viv/revoke-sessions", { token: await api.writeToken() })).status).toBe(200);
    const ended = await api.call("GET", "/v1/clients", { agent });
    expect([ended.status, ended.body.type]).toEqual([401, "https://gatehouse.dev/problems/unauthorized"]);
  });

  test("the README's automation client: made with the CLI, it gets a token and calls the API", async () => {
    const cli = gatehouseCli(api.db);
    const client = await cli.json<{ client_id: string; client_secret: string }>("client", "create", "--name", "ci", "--grant", "client_credentials", "--scope", "admin:read admin:write");
    await configPropagation();
    const token = await api.token(client, "admin:read admin:write");
    const listed = await api.call("GET", "/v1/clients?search=ci&limit=500", { token });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((c: { client_id: string }) => c.client_id)).toContain(client.client_id);
    const made = await api.call("POST", "/v1/scopes", { token, body: { name: "ci:made" } });
    expect(made.status).toBe(201);
    const audit = await api.call("GET", "/v1/audit?entity_id=ci:made", { token });
    expect(audit.body.items).toMatchObject([{ actor_kind: "api", actor: client.client_id }]);
  });
});
