// /v1/users (passwords shown once and real, sessions, password-attempt locks), /v1/keys (rotation with
// tokens still accepted) and /v1/audit (who did what, filters and paging).
import { BACKENDS } from "../helpers/databases.ts";
import { configPropagation } from "../helpers/gatehouse.ts";
import { UserAgent } from "../helpers/user-agent.ts";
import { adminApiSuite, PASSWORD } from "./api-harness.ts";

const STALE = '"stale-version-000000"';

describe.each(BACKENDS)("admin API users, keys and audit on %s", (backend) => {
  const api = adminApiSuite(backend);

  test("create users: a generated password is returned once and signs in; conflicts and bad input", async () => {
    const token = await api.writeToken();
    const generated = await api.call("POST", "/v1/users", { token, body: { username: "grace", email: "grace@example.com", roles: ["viewer"], claims: { name: "Grace Hopper" } } });
    expect(generated.status).toBe(201);
    expect(generated.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api/v1/users/grace`);
    expect(generated.body).toMatchObject({ username: "grace", email: "grace@example.com", roles: ["viewer"], enabled: true, password_change_required: true, password: expect.any(String) });
    const shown = await api.call("GET", "/v1/users/grace", { token });
    expect(shown.body).not.toHaveProperty("password");
    expect(shown.headers.get("etag")).toBe(generated.headers.get("etag"));
    // The generated password signs in once: the login page asks for a new one first.
    const browser = new UserAgent();
    const start = await browser.follow(`${api.gatehouse.issuer}/admin`, api.gatehouse.issuer);
    const change = await browser.submit(start.page!, { username: "grace", password: generated.body.password }, api.gatehouse.issuer);
    expect(change.page?.html).toContain("Choose a new password");
    const signedIn = await browser.submit(change.page!, { new_password: PASSWORD, confirm_password: PASSWORD }, api.gatehouse.issuer);
    expect(signedIn.page?.html).toContain("Signed in as <strong>grace</strong>");
    expect((await api.call("GET", "/v1/users/grace", { agent: browser })).body).toMatchObject({ password_change_required: false });

    const given = await api.call("POST", "/v1/users", { token, body: { username: "linus", password: PASSWORD } });
    expect(given.status).toBe(201);
    expect(given.body).not.toHaveProperty("password");
    expect(given.body.password_change_required).toBe(false);
    const temporary = await api.call("POST", "/v1/users", { token, body: { username: "ken", password: PASSWORD, password_change_required: true } });
    expect(temporary.body).toMatchObject({ username: "ken", password_change_required: true });
    const never = await api.call("POST", "/v1/users", { token, body: { username: "dennis", password_change_required: false } });
    expect([never.status, never.body.errors[0].field]).toEqual([400, "password_change_required"]);
    expect((await api.call("POST", "/v1/users", { token, body: { username: "linus" } })).status).toBe(409);
    const bad = await api.call("POST", "/v1/users", { token, body: { username: "x y", email: "not-an-email", password: "short" } });
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(["email", "password", "username"]);
  });

  test("list users with search and paging; change with If-Match; the username stays", async () => {
    const token = await api.writeToken();
    for (const n of [1, 2, 3]) await api.call("POST", "/v1/users", { token, body: { username: `member${n}`, email: `m${n}@members.example` } });
    const page = await api.call("GET", "/v1/users?search=members.EXAMPLE&limit=2&offset=1", { token });
    expect(page.body).toMatchObject({ total: 3, offset: 1, limit: 2 });
    expect(page.body.items.map((u: { username: string }) => u.username)).toEqual(["member2", "member3"]);

    const current = await api.call("GET", "/v1/users/member1", { token });
    expect((await api.call("PATCH", "/v1/users/member1", { token, body: { roles: ["viewer"] }, headers: { "if-match": STALE } })).status).toBe(412);
    const changed = await api.call("PATCH", "/v1/users/member1", { token, body: { roles: ["viewer"], claims: { name: "Member One" } }, headers: { "if-match": current.headers.get("etag")! } });
    expect(changed.body).toMatchObject({ username: "member1", email: "m1@members.example", roles: ["viewer"], claims: { name: "Member One" } });
    const rename = await api.call("PATCH", "/v1/users/member1", { token, body: { username: "member9" } });
    expect([rename.status, rename.body.errors]).toEqual([400, [{ field: "username", message: "unknown field" }]]);
    expect((await api.call("PATCH", "/v1/users/nobody", { token, body: {} })).status).toBe(404);
    expect((await api.call("GET", "/v1/users/nobody", { token })).status).toBe(404);
  });

  test("passwords, sessions, locks: set (generated or given), revoke sessions, see and lift a lock", async () => {
    const token = await api.writeToken();
    await api.call("POST", "/v1/users", { token, body: { username: "hedy", password: PASSWORD, roles: ["viewer"] } });

    const generated = await api.call("POST", "/v1/users/hedy/password", { token });
    expect(generated.body).toEqual({ username: "hedy", password: expect.any(String), password_change_required: true });
    expect((await api.call("GET", "/v1/users/hedy", { token })).body.password_change_required).toBe(true);
    const temporary = await api.call("POST", "/v1/users/hedy/password", { token, body: { password: PASSWORD, password_change_required: true } });
    expect(temporary.body).toEqual({ username: "hedy", password_change_required: true });
    const kept = await api.call("POST", "/v1/users/hedy/password", { token, body: { password_change_required: false } });
    expect([kept.status, kept.body.errors[0].field]).toEqual([400, "password_change_required"]);
    // A password given without the requirement stays: the flag is cleared.
    const given = await api.call("POST", "/v1/users/hedy/password", { token, body: { password: PASSWORD } });
    expect(given.body).toEqual({ username: "hedy", password_change_required: false });
    expect((await api.call("GET", "/v1/users/hedy", { token })).body.password_change_required).toBe(false);
    // PATCH turns it on by itself; the same password again keeps it, and it can be turned off.
    const flagged = await api.call("PATCH", "/v1/users/hedy", { token, body: { password_change_required: true } });
    expect(flagged.body.password_change_required).toBe(true);
    expect((await api.call("PATCH", "/v1/users/hedy", { token, body: { password: PASSWORD } })).body.password_change_required).toBe(true);
    expect((await api.call("PATCH", "/v1/users/hedy", { token, body: { password_change_required: false } })).body.password_change_required).toBe(false);
    const weak = await api.call("POST", "/v1/users/hedy/password", { token, body: { password: "short" } });
    expect([weak.status, weak.body.errors[0].field]).toEqual([400, "password"]);
    expect((await api.call("POST", "/v1/users/nobody/password", { token })).status).toBe(404);

    const { agent } = await api.signIn("hedy");
    const revoked = await api.call("POST", "/v1/users/hedy/revoke-sessions", { token });
    expect(revoked.body).toEqual({ username: "hedy", artifacts_revoked: expect.any(Number), not_before: expect.any(String) });
    expect(revoked.body.artifacts_revoked).toBeGreaterThan(0);
    expect((await api.call("GET", "/v1/users/hedy", { agent })).status).toBe(401);

    expect((await api.call("GET", "/v1/users/hedy/lock", { token })).body).toEqual({ username: "hedy", locked_until: null });
    // Two wrong passwords in quick succession lock the account for this address (LOGIN_QUICK_FAILURE_MS).
    const browser = new UserAgent();
    let page = (await browser.follow(`${api.gatehouse.issuer}/admin`, api.gatehouse.issuer)).page!;
    for (let attempt = 0; attempt < 2; attempt++) page = (await browser.submit(page, { username: "hedy", password: "wrong password, twice" }, api.gatehouse.issuer)).page!;
    const locked = await api.call("GET", "/v1/users/hedy/lock", { token });
    expect(Date.parse(locked.body.locked_until)).toBeGreaterThan(Date.now());
    const unlocked = await api.call("POST", "/v1/users/hedy/unlock", { token });
    expect(unlocked.body.counters_cleared).toBeGreaterThan(0);
    expect((await api.call("GET", "/v1/users/hedy/lock", { token })).body.locked_until).toBeNull();
    expect((await api.call("POST", "/v1/users/nobody/unlock", { token })).status).toBe(404);
    expect((await api.call("GET", "/v1/users/nobody/lock", { token })).status).toBe(404);
  });

  test("delete a user: stale If-Match 412, then 204, then 404", async () => {
    const token = await api.writeToken();
    const created = await api.call("POST", "/v1/users", { token, body: { username: "temp" } });
    expect((await api.call("DELETE", "/v1/users/temp", { token, headers: { "if-match": STALE } })).status).toBe(412);
    expect((await api.call("DELETE", "/v1/users/temp", { token, headers: { "if-match": created.headers.get("etag")! } })).status).toBe(204);
    expect((await api.call("GET", "/v1/users/temp", { token })).status).toBe(404);
    expect((await api.call("DELETE", "/v1/users/temp", { token })).status).toBe(404);
  });

  test("keys: list, rotate (the admin token signed by the old key still works), refuse an unknown algorithm", async () => {
    const token = await api.writeToken();
    const before = await api.call("GET", "/v1/keys", { token });
    const next = before.body.items.find((k: { status: string }) => k.status === "next");
    const active = before.body.items.find((k: { status: string }) => k.status === "active");
    expect(JSON.stringify(before.body)).not.toMatch(/"d":/);

    const rotated = await api.call("POST", "/v1/keys/rotate", { token, body: { alg: "RS256" } });
    expect(rotated.body).toEqual({ active: next.kid, next: expect.any(String), retired: active.kid, retired_published_for_seconds: expect.any(Number) });
    await configPropagation();
    const after = await api.call("GET", "/v1/keys", { token });
    expect(after.body.items.find((k: { kid: string }) => k.kid === rotated.body.next)).toMatchObject({ alg: "RS256", status: "next" });
    expect(after.body.items.find((k: { kid: string }) => k.kid === active.kid)).toMatchObject({ status: "retired", expires_at: expect.any(String) });
    expect((await api.call("GET", "/v1/keys?limit=1&offset=1", { token })).body).toMatchObject({ total: after.body.total, limit: 1, offset: 1 });

    const bad = await api.call("POST", "/v1/keys/rotate", { token, body: { alg: "HS256" } });
    expect([bad.status, bad.body.errors[0].field]).toEqual([400, "alg"]);
    const search = await api.call("GET", "/v1/keys?search=x", { token });
    expect([search.status, search.body.errors[0].field]).toEqual([400, "search"]);
  });

  test("audit: changes by the API client, filtered by entity, actor and time, paged", async () => {
    const token = await api.writeToken();
    const started = new Date().toISOString();
    await api.call("POST", "/v1/users", { token, body: { username: "audited" } });
    await api.call("PATCH", "/v1/users/audited", { token, body: { email: "audited@example.com" } });

    const events = await api.call("GET", "/v1/audit?entity_type=user&entity_id=audited", { token });
    expect(events.body.total).toBe(2);
    expect(events.body.items).toMatchObject([
      { action: "update", actor_kind: "api", actor: api.writer.client_id, changes: { email: [null, "audited@example.com"] } },
      { action: "create", actor_kind: "api", actor: api.writer.client_id },
    ]);
    const byActor = await api.call("GET", `/v1/audit?actor=${api.writer.client_id}&since=${encodeURIComponent(started)}&limit=1`, { token });
    expect(byActor.body).toMatchObject({ total: 2, limit: 1, items: [{ action: "update" }] });
    const future = await api.call("GET", `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token });
    expect(future.body).toMatchObject({ total: 0, items: [] });
    const bad = await api.call("GET", "/v1/audit?entity_type=planet", { token });
    expect([bad.status, bad.body.errors[0].field]).toEqual([400, "entity_type"]);
  });
});
