// Values no database can hold: PostgreSQL refuses U+0000 in text ("invalid byte sequence for encoding
// UTF8: 0x00"), and a username frank\0 on the login page, client_id=ab%00c at /token and /authorize,
// token=ab%00c at /introspect and /revoke all answered 500. Now a request carrying a NUL, a lone
// surrogate or bytes that are not UTF-8, anywhere the server reads values from, is refused at the door
// with the protocol's error; a lookup by such a value is "not found" without asking the database; a
// write of one is refused by name. On both databases alike.
import { spawn } from "node:child_process";
import path from "node:path";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { NODE, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";
import { NotFoundError } from "../../src/services/errors.ts";
import { UnstorableText } from "../../src/shared/storable-text.ts";

const REDIRECT = "http://127.0.0.1:9/callback";
const API = "https://orders.example.com";
const PASSWORD = "correct horse battery staple";

/** Percent-encoded values that decode to something no database may be given. */
const BAD_VALUES: Array<[string, string]> = [
  ["a NUL", "ab%00c"],
  ["only a NUL", "%00"],
  ["an encoded lone surrogate", "ab%ED%A0%80c"],
  ["a byte that is not UTF-8", "ab%FFc"],
  ["a truncated UTF-8 sequence", "ab%C3"],
];

describe.each(BACKENDS)("values no database can hold, on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let worker: { id: string; secret: string };
  let web: { id: string; secret: string };

  beforeAll(async () => {
    db = await freshDatabase(backend);
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      const machine = await services.clients.create({ client_name: "Worker", grant_types: ["client_credentials", "password"], scopes: ["orders:read"] });
      worker = { id: machine.client.client_id, secret: machine.client_secret! };
      const app = await services.clients.create({ client_name: "Web", grant_types: ["authorization_code"], redirect_uris: [REDIRECT], scopes: ["orders:read"] });
      web = { id: app.client.client_id, secret: app.client_secret! };
      await services.users.create({ username: "frank", password: PASSWORD });
    });
    gatehouse = await startGatehouse(db);
  });

  afterEach(() => {
    // Whatever was refused, it was never a server error, and never reached the database as such.
    expect(gatehouse.output()).not.toMatch(/invalid byte sequence|server error|"level":"error"/);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
  async function post(path: string, body: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${gatehouse.issuer}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, string> };
  }

  describe.each(BAD_VALUES)("%s (%s)", (_, bad) => {
    test("as client_id or client_secret at /token, in the body or in HTTP Basic: 401 invalid_client", async () => {
      for (const [body, headers] of [
        [`grant_type=client_credentials&client_id=${bad}&client_secret=x`, {}],
        [`grant_type=client_credentials&client_id=${worker.id}&client_secret=${bad}`, {}],
        ["grant_type=client_credentials", { authorization: basic(bad, "x") }],
        ["grant_type=client_credentials", { authorization: basic(worker.id, bad) }],
      ] as const) {
        const response = await post("/token", body, headers);
        expect(response.status).toBe(401);
        expect(response.json().error).toBe("invalid_client");
      }
      const raw = await post("/token", "grant_type=client_credentials", { authorization: `Basic ${Buffer.from("ab\0c:x").toString("base64")}` });
      expect(raw.status).toBe(401);
      expect(raw.headers.get("www-authenticate")).toMatch(/^Basic /);
    });

    test("as any other parameter of /token, /introspect, /revoke, /tokeninfo: 400 invalid_request", async () => {
      const auth = { authorization: basic(worker.id, worker.secret) };
      for (const [path, body] of [
        ["/token", `grant_type=authorization_code&code=${bad}&redirect_uri=${REDIRECT}&code_verifier=${"v".repeat(43)}`],
        ["/token", `grant_type=refresh_token&refresh_token=${bad}`],
        ["/token", `grant_type=password&username=frank${bad}&password=x`],
        ["/token", `grant_type=client_credentials&resource=https://orders.example.com/${bad}`],
        ["/token", `grant_type=client_credentials&scope=${bad}`],
        ["/introspect", `token=${bad}`],
        ["/introspect", `token=x&token_type_hint=${bad}`],
        ["/revoke", `token=${bad}`],
        ["/tokeninfo", `access_token=${bad}`],
        ["/token", `grant_type=client_credentials&${bad}=x`],
      ] as const) {
        const response = await post(path, body, auth);
        expect(`${path} ${body} ${response.status}`).toBe(`${path} ${body} 400`);
        expect(response.json().error).toBe("invalid_request");
      }
      const query = await fetch(`${gatehouse.issuer}/tokeninfo?access_token=${bad}`);
      expect(query.status).toBe(400);
    });

    test("in /authorize's query or the path of an interaction: 400 invalid_request, never a redirect", async () => {
      const query = new URLSearchParams({ response_type: "code", redirect_uri: REDIRECT, scope: "openid", code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
      for (const url of [
        `/authorize?client_id=${bad}&${query}`,
        `/authorize?client_id=${web.id}&${query}&state=${bad}`,
        `/authorize?client_id=${web.id}&${query}&login_hint=frank${bad}`,
        `/interaction/${bad}`,
        `/interaction/${bad}/login`,
      ]) {
        const response = await fetch(`${gatehouse.issuer}${url}`, { redirect: "manual" });
        expect(`${url} ${response.status}`).toBe(`${url} 400`);
        expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
      }
    });
  });

  test("the login page: a username or password with a NUL (or not UTF-8) is refused, frank's own sign-in still works", async () => {
    for (const [username, password] of [["frank%00", PASSWORD], ["frank", `${encodeURIComponent(PASSWORD)}%00`], ["frank%ED%A0%80", "x"], ["fr%FFank", "x"]]) {
      const agent = new UserAgent();
      const url = new URL(`${gatehouse.issuer}/authorize`);
      url.search = new URLSearchParams({ client_id: web.id, response_type: "code", redirect_uri: REDIRECT, scope: "openid", code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
      const start = await agent.follow(url.href, gatehouse.issuer);
      const action = /action="([^"]*\/login)"/.exec(start.page!.html)![1]!;
      const csrf = /name="csrf" value="([^"]*)"/.exec(start.page!.html)?.[1] ?? "";
      const response = await agent.request(new URL(action, gatehouse.issuer).href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: gatehouse.issuer },
        body: `csrf=${encodeURIComponent(csrf)}&username=${username}&password=${password}`,
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
    }
    const agent = new UserAgent();
    const url = new URL(`${gatehouse.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: web.id, response_type: "code", redirect_uri: REDIRECT, scope: "openid", code_challenge: "x".repeat(43), code_challenge_method: "S256" }).toString();
    const start = await agent.follow(url.href, gatehouse.issuer);
    const result = await agent.submit(start.page!, { username: "frank", password: PASSWORD }, gatehouse.issuer);
    expect(result.page?.html ?? result.redirect).not.toContain("Invalid username or password");
  });

  test("JSON bodies (the admin API): a \\u0000 or a lone surrogate escape anywhere is refused with 400", async () => {
    for (const body of ['{"client_name":"a\\u0000b"}', '{"client_name":"a\\ud800b"}', '{"claims":{"x\\u0000":"y"}}', '{"list":["ok","\\udfff"]}']) {
      const response = await fetch(`${gatehouse.issuer}/admin/api/v1/clients`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
    }
    // Text that is fine, paired surrogates included, goes on to the admin API (which wants a token).
    const fine = await fetch(`${gatehouse.issuer}/admin/api/v1/clients`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"client_name":"caf\\u00e9 \\ud83d\\ude00"}' });
    expect(fine.status).toBe(401);
  });

  test("ordinary requests still work, bodies included, whole or chunked", async () => {
    const auth = { authorization: basic(worker.id, worker.secret) };
    const whole = await post("/token", "grant_type=client_credentials&scope=orders%3Aread&resource=https%3A%2F%2Forders.example.com", auth);
    expect(whole.status).toBe(200);
    const chunked = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...auth },
      body: new Blob(["grant_type=client_credentials&scope=orders%3Aread"]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(200);
    const password = await post("/token", `grant_type=password&username=frank&password=${encodeURIComponent(PASSWORD)}&scope=orders%3Aread`, auth);
    expect(password.status).toBe(200);
    const introspected = await post("/introspect", `token=${whole.json().access_token}`, auth);
    expect(introspected.json()).toMatchObject({ active: true, scope: "orders:read" });
  });

  test("a body too large to look at is handed on, and refused there as too large, NUL or not", async () => {
    const auth = { authorization: basic(worker.id, worker.secret) };
    const big = `grant_type=client_credentials&padding=${"a".repeat(80 * 1024)}&client_id=ab%00c`;
    const chunked = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...auth },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(400);
    expect(await chunked.json()).toMatchObject({ error: "invalid_request", error_description: "failed to parse the request body" });
    const measured = await post("/token", big, auth);
    expect(measured.status).toBe(413);
  });

  test("lookups by such a value find nothing without asking the database; writes of one are refused by name", async () => {
    await withServices(db, async (services, storage) => {
      for (const value of ["ab\0c", "\0", "ab\ud800", "\udc00"]) {
        expect(await storage.clients.find(value)).toBeNull();
        expect(await storage.users.findByUsername(value)).toBeNull();
        expect(await storage.users.findByEmail(value)).toBeNull();
        expect(await storage.users.findById(value)).toBeNull();
        expect(await storage.apis.find(value)).toBeNull();
        expect(await storage.assertionIssuers.find(value)).toBeNull();
        expect(await storage.consents.find(value, value)).toBeNull();
        expect(await storage.routes.find(value)).toBeNull();
        expect(await storage.routes.list(value)).toEqual([]);
        expect(await storage.adminSessions.find(value)).toBeNull();
        expect(await storage.clients.page({ offset: 0, limit: 10, search: value })).toEqual({ items: [], total: 0 });
        expect(await storage.users.page({ offset: 0, limit: 10, search: value })).toEqual({ items: [], total: 0 });
        expect(await storage.audit.page({ entityId: value })).toEqual({ items: [], total: 0 });
        expect(await storage.clients.delete(value)).toBe(false);
        expect(await storage.replays.firstUse(`issuer ${value}`, new Date(Date.now() + 60_000))).toBe(false);
        // The CLI's and the admin API's lookups, through the services: not found.
        await expect(services.clients.get(value)).rejects.toBeInstanceOf(NotFoundError);
        await expect(services.users.get(value)).rejects.toBeInstanceOf(NotFoundError);
        await expect(services.apis.get(value)).rejects.toBeInstanceOf(NotFoundError);
        await expect(services.scopes.get(value)).rejects.toBeInstanceOf(NotFoundError);
        await expect(services.issuers.get(value)).rejects.toBeInstanceOf(NotFoundError);
        await expect(services.routes.get(value)).rejects.toBeInstanceOf(NotFoundError);
      }
      await expect(services.scopes.create({ name: "nul:scope", description: "a\0b" })).rejects.toThrow(UnstorableText);
      await expect(services.clients.create({ client_name: "Bad\0name", grant_types: ["client_credentials"] } as never)).rejects.toThrow(/client name contains a NUL character/);
      await expect(services.users.create({ username: "surrogate", password: PASSWORD, claims: { name: "x\ud800" } } as never)).rejects.toThrow(/claims\.name/);
      await expect(services.scopes.get("nul:scope")).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  test("the CLI: apply refuses such text by name, with one line and exit code 1, and stores nothing", async () => {
    const cli = (stdin: string, ...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(NODE, [path.resolve("src/cli/main.ts"), ...args], { cwd: db.dataDir, env: { PATH: process.env.PATH ?? "", ...db.env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(stdin);
      });
    for (const file of [
      '{"scopes":[{"name":"cli:scope","description":"a\\u0000b"}]}',
      '{"users":[{"username":"cli-user","password":"a-long-enough-password","claims":{"name":"x\\ud800"}}]}',
      'scopes:\n  - name: cli:yaml\n    description: "a\\0b"\n',
    ]) {
      const result = await cli(file, "apply", "-");
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: .*(NUL character|unpaired surrogate).*\n$/);
      expect(result.stderr).not.toMatch(/invalid byte sequence|\n\s+at /);
    }
    const listed = await cli("", "scope", "list", "--json");
    expect(listed.stdout).not.toMatch(/cli:scope|cli:yaml/);
  });
});
