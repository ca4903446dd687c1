// What an operator meets every day, against a running server: changes made with the CLI are live at
// once (not at the next poll: the poll is set to a minute here), a lost refresh response does not sign
// the user out, secrets rotate without downtime, a forgotten `resource` is defaulted or explained,
// userinfo stays reachable after a code flow that named an API, and security events are logged.
import { execFileSync } from "node:child_process";
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";
import { UserAgent } from "../helpers/user-agent.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { until } from "../helpers/redis.ts";
import { gatehouseCli, type Gatehouse } from "../cli/gatehouse.ts";

const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

describe.each(BACKENDS)("everyday operations on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let cli: Gatehouse;
  let gateway: string;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: BILLING, name: "Billing", scopes: ["billing:read"] });
      await services.users.create({ username: "alice", password: PASSWORD, claims: { name: "Alice" } });
    });
    // A one-minute poll: whatever arrives sooner arrived through a change notification or a lookup.
    gatehouse = await startGatehouse(db, { CONFIG_POLL_MS: "60000", LOG_LEVEL: "info" });
    cli = gatehouseCli(db);
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  async function tokenResponse(id: string, secret: string, params: Record<string, string>) {
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(id, secret), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", ...params }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }

  test("the start says what is shared without Redis (PostgreSQL); nothing on a lone SQLite process", () => {
    const said = gatehouse.output().includes("REDIS_URL is not set: gateway rate limits count in each process");
    expect(said).toBe(backend === "postgresql");
  });

  test("a client created with the CLI gets a token at once, and a route added with the CLI serves within 100 ms", async () => {
    const created = await cli.json("client", "create", "--name", "Fresh", "--grant", "client_credentials", "--scope", "orders:read");
    const first = await tokenResponse(created.client_id, created.client_secret, { scope: "orders:read", resource: ORDERS });
    expect(first.status).toBe(200);

    await cli.json("route", "add", "--api", ORDERS, "--path", "/fresh", "--upstream", upstream.url, "--scope", "orders:read");
    const added = performance.now();
    let status = 0;
    while (performance.now() - added < 100 && status !== 200) {
      status = (await fetch(`${gateway}/fresh/1`, { headers: { authorization: `Bearer ${first.body.access_token}` } })).status;
    }
    expect(status).toBe(200);
  });

  test("an unknown client_id is looked up once, then refused from memory for a few seconds", async () => {
    const unknown = await tokenResponse("no-such-client", "x".repeat(43), { scope: "orders:read" });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe("invalid_client");
  });

  test("without resource, a client whose scopes belong to one API gets that API's token; across APIs, invalid_target says what to send", async () => {
    const single = await cli.json("client", "create", "--name", "One API", "--grant", "client_credentials", "--scope", "orders:read");
    const defaulted = await tokenResponse(single.client_id, single.client_secret, { scope: "orders:read" });
    expect(defaulted.status).toBe(200);
    expect(decodeJwt(defaulted.body.access_token!)).toMatchObject({ aud: ORDERS, scope: "orders:read" });
    const noScope = await tokenResponse(single.client_id, single.client_secret, {});
    expect(decodeJwt(noScope.body.access_token!).aud).toBe(ORDERS);

    const double = await cli.json("client", "create", "--name", "Two APIs", "--grant", "client_credentials", "--scope", "orders:read billing:read");
    const ambiguous = await tokenResponse(double.client_id, double.client_secret, { scope: "orders:read" });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error).toBe("invalid_target");
    expect(ambiguous.body.error_description).toContain(`resource=${ORDERS}`);
    const named = await tokenResponse(double.client_id, double.client_secret, { scope: "orders:read", resource: ORDERS });
    expect(decodeJwt(named.body.access_token!).aud).toBe(ORDERS);
  });

  test("rotate-secret --grace: both secrets work during the grace period, then only the new one", async () => {
    const created = await cli.json("client", "create", "--name", "Rotating", "--grant", "client_credentials", "--scope", "orders:read");
    const rotated = await cli.json("client", "rotate-secret", created.client_id, "--grace", "2");
    expect((await tokenResponse(created.client_id, created.client_secret, { resource: ORDERS })).status).toBe(200);
    expect((await tokenResponse(created.client_id, rotated.client_secret, { resource: ORDERS })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await tokenResponse(created.client_id, created.client_secret, { resource: ORDERS })).status).toBe(401);
    expect((await tokenResponse(created.client_id, rotated.client_secret, { resource: ORDERS })).status).toBe(200);
  });

  async function codeFlow(config: oidc.Configuration, scope: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope, resource: ORDERS, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
    });
    const agent = new UserAgent();
    let result = await agent.submit((await agent.follow(url.href, gatehouse.issuer)).page!, { username: "alice", password: PASSWORD }, gatehouse.issuer);
    if (result.page) result = await agent.submit(result.page, {}, gatehouse.issuer);
    return { callback: new URL(result.redirect!), verifier };
  }

  async function webClient(name: string, extra: string[] = []) {
    const created = await cli.json(
      "client", "create", "--name", name, "--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", REDIRECT, "--scope", "orders:read", ...extra,
    );
    return oidc.discovery(new URL(gatehouse.issuer), created.client_id, created.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  }

  test("after a code flow that named an API, userinfo works: a token request without resource gets a userinfo token", async () => {
    const web = await webClient("Profile and API");
    const { callback, verifier } = await codeFlow(web, "openid profile offline_access orders:read");
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier });
    expect(await oidc.fetchUserInfo(web, tokens.access_token, tokens.claims()!.sub)).toMatchObject({ name: "Alice", preferred_username: "alice" });
    // The API's token: ask for it by name, on the refresh.
    const forApi = await oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource: ORDERS });
    expect(decodeJwt(forApi.access_token)).toMatchObject({ aud: ORDERS, scope: "orders:read" });
    const again = await oidc.refreshTokenGrant(web, forApi.refresh_token!);
    expect(await oidc.fetchUserInfo(web, again.access_token, tokens.claims()!.sub)).toMatchObject({ name: "Alice" });
  });

  test("a rotated refresh token presented after its grace period is reuse: the grant is revoked and the event logged", async () => {
    const web = await webClient("Strict", ["--refresh-token-reuse-grace", "1"]);
    const { callback, verifier } = await codeFlow(web, "openid offline_access orders:read");
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier }, { resource: ORDERS });
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    await new Promise((r) => setTimeout(r, 1500));
    await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.refreshTokenGrant(web, refreshed.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    const events = gatehouse.output();
    expect(events).toMatch(/"msg":"security event","event":"refresh_token_reuse","client_id":"[0-9a-f]+"/);
    expect(events).toMatch(/"event":"grant_revoked"/);
  });

  test("security events name the client, the address and a token hash, never a secret or a token", async () => {
    const created = await cli.json("client", "create", "--name", "Audited", "--grant", "client_credentials", "--scope", "orders:read");
    expect((await tokenResponse(created.client_id, "a-wrong-secret-that-is-long-enough-000", { resource: ORDERS })).status).toBe(401);
    const { body } = await tokenResponse(created.client_id, created.client_secret, { resource: ORDERS });
    await fetch(`${gatehouse.issuer}/revoke`, {
      method: "POST",
      headers: { authorization: basic(created.client_id, created.client_secret), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: body.access_token! }),
    });
    const log = gatehouse.output();
    expect(log).toMatch(new RegExp(`"event":"client_authentication_failed","client_id":"${created.client_id}","address":"[^"]+","endpoint":"token"`));
    expect(log).toMatch(new RegExp(`"event":"token_revoked","client_id":"${created.client_id}","address":"[^"]+","token":"[A-Za-z0-9_-]{12}"`));
    expect(log).not.toContain(created.client_secret);
    expect(log).not.toContain(body.access_token);
    expect(log).not.toContain("a-wrong-secret");
  });
});

describe("starting on PostgreSQL", () => {
  test("a database that does not exist is created when the role may; the CLI reads without KEY_ENCRYPTION_SECRET", async () => {
    const db = await freshDatabase("postgresql");
    try {
      const url = new URL(db.url);
      url.pathname = `/${url.pathname.slice(1)}_created`;
      const gatehouse = await startGatehouse(db, { DATABASE_URL: url.href, LOG_LEVEL: "info" });
      expect(gatehouse.output()).toMatch(/"msg":"created the database"/);
      await gatehouse.stop();
      const readOnly = gatehouseCli(db, { DATABASE_URL: url.href, KEY_ENCRYPTION_SECRET: "" });
      const listed = await readOnly("client", "list", "--json");
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout).map((c: { client_id: string }) => c.client_id).sort()).toEqual(["gatehouse-console", "gatehouse-gateway"]);
      // Sealing needs it, and says so.
      const sealing = await readOnly("keys", "rotate");
      expect(sealing.code).toBe(1);
      expect(sealing.stderr).toContain("KEY_ENCRYPTION_SECRET must be set");
      execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-c", `DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`], { stdio: "ignore" });
    } finally {
      await db.drop();
    }
  });

  test("a database that is down at start is waited for, with one log line per attempt", async () => {
    const db = await freshDatabase("postgresql");
    const relay = await tcpProxy(5432);
    try {
      relay.cut();
      const url = new URL(db.url);
      url.port = String(relay.port);
      setTimeout(() => relay.restore(), 2500);
      const gatehouse = await startGatehouse(db, { DATABASE_URL: url.href, LOG_LEVEL: "info" });
      const retries = gatehouse.output().match(/"msg":"database unreachable; retrying"/g) ?? [];
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries.length).toBeLessThanOrEqual(3);
      expect((await fetch(`${gatehouse.issuer}/jwks`)).status).toBe(200);
      await gatehouse.stop();
    } finally {
      await relay.close();
      await db.drop();
    }
  });

  test("with WORKERS=2, a worker that keeps dying is replaced after a growing delay", async () => {
    const db = await freshDatabase("postgresql");
    try {
      const gatehouse = await startGatehouse(db, { WORKERS: "2", LOG_LEVEL: "info" });
      const workers = () => execFileSync("pgrep", ["-P", String(gatehouse.pid)], { encoding: "utf8" }).split("\n").filter(Boolean);
      const replaced = () => [...gatehouse.output().matchAll(/"msg":"worker exited; starting another"/g)].length;
      for (let i = 0; i < 3; i++) {
        await until(() => workers().length === 2);
        process.kill(Number(workers()[0]), "SIGKILL");
        await until(() => replaced() === i + 1);
      }
      const delays = [...gatehouse.output().matchAll(/"msg":"worker exited; starting another".*?"inSeconds":([\d.]+)/g)].map((m) => Number(m[1]));
      expect(delays).toEqual([0.5, 1, 2]);
      await gatehouse.stop();
    } finally {
      await db.drop();
    }
  });
});
