import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

describe.each(CLI_BACKENDS)("gatehouse scope, api and user (%s)", (backend) => {
  const t = freshGatehouse(backend);

  test("scope create, list and delete", async () => {
    expect(await t.gatehouse.json("scope", "create", "orders:read", "--description", "Read orders")).toEqual({
      name: "orders:read",
      description: "Read orders",
    });
    expectCleanFailure(await t.gatehouse("scope", "create", "orders:read"), "scope orders:read already exists");
    expect(await t.gatehouse.json("scope", "list")).toContainEqual({ name: "orders:read", description: "Read orders" });
    expect(await t.gatehouse.json("scope", "delete", "orders:read")).toEqual({ deleted: "orders:read" });
    expect(await t.gatehouse.json("scope", "list")).toEqual([]);
    expectCleanFailure(await t.gatehouse("scope", "delete", "orders:read"), "scope orders:read not found");
  });

  test("api create, list and delete", async () => {
    const api = {
      identifier: "https://orders.example",
      name: "Orders",
      token_format: "opaque",
      access_token_ttl: 900,
      scopes: ["orders:read", "orders:write"],
      // The gateway's settings, at their defaults (test/cli/api-gateway.test.ts sets them).
      token_check: "jwt",
      trusted_issuers: [],
      allow_query_token: false,
      introspection_clients: [],
      // No gateway policy attached (test/cli/api-gateway.test.ts attaches them).
      policies: {},
    };
    const created = await t.gatehouse.json(
      "api", "create", "--identifier", api.identifier, "--name", api.name,
      "--format", "opaque", "--ttl", "900", "--scope", "orders:read orders:write",
    );
    expect(created).toEqual(api);
    expect(await t.gatehouse.json("api", "list")).toEqual([api]);
    const table = await t.gatehouse("api", "list");
    expect(table.stdout).toMatch(/^IDENTIFIER\s+NAME\s+TOKEN_FORMAT/);
    expect(await t.gatehouse.json("api", "delete", api.identifier)).toEqual({ deleted: api.identifier });
    expect(await t.gatehouse.json("api", "list")).toEqual([]);
  });

  test("user create with --password-stdin, list, set-password and delete; hashes never shown", async () => {
    const created = await t.gatehouse.with(
      { stdin: "correct horse battery staple\n" },
      "user", "create", "alice", "--email", "alice@example.com", "--name", "Alice Liddell",
      "--role", "admin", "--role", "auditor", "--password-stdin", "--json",
    );
    expect(created.code).toBe(0);
    const alice = JSON.parse(created.stdout);
    expect(alice).toMatchObject({ username: "alice", email: "alice@example.com", claims: { name: "Alice Liddell" }, roles: ["admin", "auditor"] });
    expect(alice).not.toHaveProperty("password");

    const listed = await t.gatehouse("user", "list", "--json");
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ username: "alice", password_change_required: false })]);
    expect(listed.stdout).not.toMatch(/argon2|"password"|password_?hash/i);

    expect(await t.gatehouse.json("user", "set-password", "alice", "--password", "another long passphrase")).toEqual({ username: "alice", password_change_required: false });
    expectCleanFailure(await t.gatehouse("user", "set-password", "alice", "--password", "short"), "password: must be at least 12 characters");

    expect(await t.gatehouse.json("user", "delete", "alice")).toEqual({ deleted: "alice" });
    expect(await t.gatehouse.json("user", "list")).toEqual([]);
  });

  test("a user created without a password gets a generated one, printed once, that must be changed at the first sign-in", async () => {
    const bob = await t.gatehouse.json("user", "create", "bob");
    expect(bob.password.length).toBeGreaterThanOrEqual(43);
    expect(bob.password_change_required).toBe(true);
    const shown = await t.gatehouse("user", "list", "--json");
    expect(shown.stdout).not.toContain(bob.password);
    const text = await t.gatehouse("user", "create", "bert");
    expect(text.stdout).toContain("must be changed at the first sign-in");
    const reset = await t.gatehouse.json("user", "set-password", "bob");
    expect(reset).toEqual({ username: "bob", password: expect.any(String), password_change_required: true });
    expect(reset.password).not.toBe(bob.password);
  });

  test("--temporary asks for a change at the next sign-in; a password given without it stays; show and list say which", async () => {
    const temp = await t.gatehouse.with({ stdin: "a temporary password 1\n" }, "user", "create", "tina", "--password-stdin", "--temporary", "--json");
    expect(JSON.parse(temp.stdout)).toMatchObject({ username: "tina", password_change_required: true });
    expect(JSON.parse(temp.stdout)).not.toHaveProperty("password");
    expect(await t.gatehouse.json("user", "show", "tina")).toMatchObject({ username: "tina", password_change_required: true, locked_until: null });

    // A password set without --temporary is meant to stay: the requirement is lifted.
    expect(await t.gatehouse.json("user", "set-password", "tina", "--password", "a lasting password 22")).toEqual({ username: "tina", password_change_required: false });
    expect((await t.gatehouse.json("user", "show", "tina")).password_change_required).toBe(false);
    const again = await t.gatehouse.with({ stdin: "a temporary password 3\n" }, "user", "set-password", "tina", "--password-stdin", "--temporary");
    expect(again.stdout).toContain("password of tina changed: it must be changed at the next sign-in");
    expect((await t.gatehouse.json("user", "show", "tina")).password_change_required).toBe(true);

    const table = await t.gatehouse("user", "list");
    expect(table.stdout).toMatch(/^USERNAME\s+EMAIL\s+ROLES\s+ENABLED\s+MUST_CHANGE_PASSWORD$/m);
    expect(table.stdout).toMatch(/^tina\s+-\s+-\s+true\s+true$/m);
    const shown = await t.gatehouse("user", "show", "tina");
    expect(shown.stdout).toMatch(/^password_change_required\s+true$/m);
    expect(shown.stdout).not.toMatch(/argon2|temporary password/);
    expectCleanFailure(await t.gatehouse("user", "show", "nobody"), "user nobody not found");
  });

  test("user disable, enable, revoke-sessions and unlock", async () => {
    await t.gatehouse.json("user", "create", "carol", "--password", "correct horse battery staple");
    expect(await t.gatehouse.json("user", "disable", "carol")).toMatchObject({ username: "carol", enabled: false });
    expect(await t.gatehouse.json("user", "enable", "carol")).toMatchObject({ username: "carol", enabled: true });
    expect(await t.gatehouse.json("user", "revoke-sessions", "carol")).toMatchObject({ username: "carol", artifacts_revoked: 0, not_before: expect.any(String) });
    expect(await t.gatehouse.json("user", "unlock", "carol")).toEqual({ username: "carol", counters_cleared: 0 });
    expectCleanFailure(await t.gatehouse("user", "unlock", "nobody"), "user nobody not found");
  });

  test("audit list shows each change, by whom, never a secret", async () => {
    await t.gatehouse.json("scope", "create", "audited:scope", "--description", "Audited");
    await t.gatehouse.json("user", "create", "dora", "--password", "a password nobody knows 1");
    const events = await t.gatehouse.json("audit", "list");
    const user = events.find((e: { entity_type: string; entity_id: string }) => e.entity_type === "user" && e.entity_id === "dora");
    expect(user).toMatchObject({ actor_kind: "cli", actor: expect.any(String), action: "create", changes: { username: "dora" } });
    expect(JSON.stringify(events)).not.toContain("a password nobody knows");
    const scoped = await t.gatehouse.json("audit", "list", "--entity", "scope", "--id", "audited:scope");
    expect(scoped).toEqual([expect.objectContaining({ action: "create", changes: { description: "Audited" } })]);
  });
});
