import fs from "node:fs";
import path from "node:path";
import { CLI_BACKENDS } from "../helpers/databases.ts";
import { freshGatehouse } from "./gatehouse.ts";

describe.each(CLI_BACKENDS)("gatehouse client (%s)", (backend) => {
  const t = freshGatehouse(backend);

  beforeAll(async () => {
    await t.gatehouse.json("api", "create", "--identifier", "https://orders.example", "--name", "Orders", "--scope", "orders:read orders:write");
  });

  async function createWorker(): Promise<{ client_id: string; client_secret: string }> {
    return t.gatehouse.json("client", "create", "--name", "Worker", "--grant", "client_credentials", "--scope", "orders:read orders:write");
  }

  test("create prints the client_id and, once, a secret that show, list and export never reveal", async () => {
    const created = await createWorker();
    expect(created.client_id).toEqual(expect.any(String));
    expect(created.client_secret.length).toBeGreaterThanOrEqual(43);
    expect(created).toMatchObject({ grant_types: ["client_credentials"], scopes: ["orders:read", "orders:write"], has_secret: true });

    const shown = await t.gatehouse.json("client", "show", created.client_id);
    expect(shown).toMatchObject({ client_id: created.client_id, client_name: "Worker", token_endpoint_auth_method: "client_secret_basic" });
    const outputs = await Promise.all([
      t.gatehouse("client", "show", created.client_id),
      t.gatehouse("client", "show", created.client_id, "--json"),
      t.gatehouse("client", "list"),
      t.gatehouse("client", "list", "--json"),
      t.gatehouse("export"),
      t.gatehouse("export", "--format", "json"),
    ]);
    for (const { code, stdout } of outputs) {
      expect(code).toBe(0);
      expect(stdout).toContain(created.client_id);
      expect(stdout).not.toContain(created.client_secret);
      expect(stdout).not.toContain("$argon2");
    }
  });

  test("create accepts the issue's authorization_code example and a public client gets no secret", async () => {
    const confidential = await t.gatehouse.json(
      "client", "create", "--name", "Web", "--client-id", "web-app",
      "--grant", "authorization_code", "--grant", "refresh_token",
      "--redirect-uri", "https://web.example/callback", "--post-logout-redirect-uri", "https://web.example/",
      "--auth-method", "client_secret_post", "--access-token-ttl", "600",
    );
    expect(confidential).toMatchObject({
      client_id: "web-app",
      redirect_uris: ["https://web.example/callback"],
      post_logout_redirect_uris: ["https://web.example/"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
      access_token_ttl: 600,
    });
    const spa = await t.gatehouse.json("client", "create", "--name", "SPA", "--public", "--grant", "authorization_code", "--redirect-uri", "https://spa.example/cb");
    expect(spa).toMatchObject({ public: true, token_endpoint_auth_method: "none", has_secret: false });
    expect(spa).not.toHaveProperty("client_secret");
  });

  test("--allowed-origin on create and update, --clear-allowed-origins; a bad origin is refused naming it", async () => {
    const created = await t.gatehouse.json("client", "create", "--name", "Ops", "--grant", "client_credentials", "--allowed-origin", "https://ops.example.com", "--allowed-origin", "http://localhost:5173");
    expect(created.allowed_origins).toEqual(["https://ops.example.com", "http://localhost:5173"]);
    const updated = await t.gatehouse.json("client", "update", created.client_id, "--allowed-origin", "https://reports.example.com", "--name", "Ops console");
    expect(updated).toMatchObject({ client_name: "Ops console", allowed_origins: ["https://reports.example.com"], grant_types: ["client_credentials"], has_secret: true });
    expect((await t.gatehouse.json("client", "update", created.client_id, "--clear-allowed-origins")).allowed_origins).toEqual([]);
    const refused = await t.gatehouse("client", "update", created.client_id, "--allowed-origin", "https://ops.example.com/app");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("allowed_origins[0]: https://ops.example.com/app: must be an origin exactly as browsers send it");
  });

  test("a declarative file sets allowed_origins and export gives them back", async () => {
    const file = path.join(t.db.dataDir, "origins.yaml");
    fs.writeFileSync(file, "clients:\n  - client_id: spa-origins\n    client_name: SPA\n    public: true\n    grant_types: [authorization_code]\n    redirect_uris: [https://spa.example/cb]\n    allowed_origins: [https://admin.spa.example]\n");
    await t.gatehouse.json("apply", file);
    expect((await t.gatehouse.json("client", "show", "spa-origins")).allowed_origins).toEqual(["https://admin.spa.example"]);
    const exported = await t.gatehouse("export");
    expect(exported.stdout).toMatch(/client_id: spa-origins[\s\S]*allowed_origins:\n\s+- https:\/\/admin\.spa\.example/);
  });

  test("rotate-secret prints a new secret once and keeps it out of show", async () => {
    const created = await createWorker();
    const rotated = await t.gatehouse.json("client", "rotate-secret", created.client_id);
    expect(rotated.client_id).toBe(created.client_id);
    expect(rotated.client_secret.length).toBeGreaterThanOrEqual(43);
    expect(rotated.client_secret).not.toBe(created.client_secret);
    const shown = await t.gatehouse("client", "show", created.client_id, "--json");
    expect(shown.stdout).not.toContain(rotated.client_secret);
  });

  test("disable and enable switch a client off and on", async () => {
    const { client_id } = await createWorker();
    expect(await t.gatehouse.json("client", "disable", client_id)).toMatchObject({ enabled: false });
    expect(await t.gatehouse.json("client", "show", client_id)).toMatchObject({ enabled: false });
    expect(await t.gatehouse.json("client", "enable", client_id)).toMatchObject({ enabled: true });
  });

  test("delete removes the client; a second delete reports it not found", async () => {
    const { client_id } = await createWorker();
    expect(await t.gatehouse.json("client", "delete", client_id)).toEqual({ deleted: client_id });
    const listed: { client_id: string }[] = await t.gatehouse.json("client", "list");
    expect(listed.map((c) => c.client_id)).not.toContain(client_id);
    const again = await t.gatehouse("client", "delete", client_id, "--json");
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toEqual({ error: `client ${client_id} not found` });
  });

  test("--native registers a public native app; unsafe redirect URIs are refused with the reason", async () => {
    const native = await t.gatehouse.json(
      "client", "create", "--name", "Phone", "--native", "--grant", "authorization_code",
      "--redirect-uri", "com.example.phone:/callback", "--redirect-uri", "http://127.0.0.1/callback",
    );
    expect(native).toMatchObject({ application_type: "native", public: true, token_endpoint_auth_method: "none", has_secret: false });
    for (const [uri, reason] of [
      ["javascript:alert(1)", "must not use the javascript scheme"],
      ["http://web.example/cb", "must use https"],
      ["https://*.web.example/cb", "must not contain wildcards"],
      ["com.example.phone:/cb", "must use https (or http on loopback); private-use schemes are for native apps only"],
    ]) {
      const refused = await t.gatehouse("client", "create", "--name", "Web", "--grant", "authorization_code", "--redirect-uri", uri!, "--json");
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout).error).toContain(`redirect_uris[0]: ${uri}: ${reason}`);
    }
  });

  test("a scope that is neither registered nor an API's is refused, with the known ones", async () => {
    const result = await t.gatehouse("client", "create", "--name", "Typo", "--grant", "client_credentials", "--scope", "orders:read nonexistent:scope");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/scopes\[1\]: unknown scope "nonexistent:scope" \(known scopes: address, email, offline_access, openid, orders:read, orders:write, phone, profile\)/);
  });

  test("rotate-secret --grace keeps the old secret working beside the new one until the given time", async () => {
    const { client_id } = await createWorker();
    const rotated = await t.gatehouse.json("client", "rotate-secret", client_id, "--grace", "600");
    const expires = Date.parse(rotated.previous_secret_expires_at);
    expect(expires - Date.now()).toBeGreaterThan(590_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(600_000);
    expect(await t.gatehouse.json("client", "show", client_id)).toMatchObject({ previous_secret_expires_at: rotated.previous_secret_expires_at });
    const immediate = await t.gatehouse.json("client", "rotate-secret", client_id);
    expect(immediate.previous_secret_expires_at).toBeNull();
  });

  test("revoke-tokens ends what a client holds and keeps the client", async () => {
    const { client_id } = await createWorker();
    const revoked = await t.gatehouse.json("client", "revoke-tokens", client_id);
    expect(revoked).toMatchObject({ client_id, artifacts_revoked: 0, not_before: expect.any(String) });
    expect(await t.gatehouse.json("client", "show", client_id)).toMatchObject({ enabled: true });
  });
});
