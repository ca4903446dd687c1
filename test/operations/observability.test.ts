// Metrics, request ids, access logs and health endpoints of a running Gatehouse (the authorization
// server end to end; the gateway's parts are in gateway-operations.test.ts): a scrape after some traffic
// shows the counters, with WORKERS=2 one scrape covers both workers, a request keeps the id it came
// with, and nothing is kept or served when METRICS_PORT is unset.
import http from "node:http";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { sample, accessLines } from "../helpers/operations.ts";

const ORDERS = "https://orders.example.com";
/** An API whose access tokens are opaque (kept in memory once looked up: oidc-adapter.ts). */
const LEDGER = "https://ledger.example.com";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Client {
  id: string;
  secret: string;
}

async function seed(db: FreshDatabase): Promise<Client> {
  return withServices(db, async (services) => {
    await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
    await services.apis.apply({ identifier: LEDGER, name: "Ledger", scopes: ["ledger:read"], token_format: "opaque" });
    const { client, client_secret } = await services.clients.create({ client_name: "worker", grant_types: ["client_credentials"], scopes: ["orders:read", "ledger:read"] });
    return { id: client.client_id, secret: client_secret! };
  });
}

const basic = (client: Client, secret = client.secret) => `Basic ${Buffer.from(`${client.id}:${secret}`).toString("base64")}`;

/** A token request on a new connection each time (so WORKERS=N spreads them over the workers). */
function tokenRequest(issuer: string, client: Client, { secret, requestId }: { secret?: string; requestId?: string } = {}): Promise<{ status: number; requestId: string | undefined }> {
  const body = new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS }).toString();
  return new Promise((resolve, reject) => {
    const request = http.request(`${issuer}/token`, {
      method: "POST",
      agent: false,
      headers: {
        authorization: basic(client, secret),
        "content-type": "application/x-www-form-urlencoded",
        "content-length": Buffer.byteLength(body),
        ...(requestId ? { "x-request-id": requestId } : {}),
      },
    });
    request.on("response", (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode!, requestId: response.headers["x-request-id"] as string | undefined }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** A fresh SQLite database with one client, and Gatehouse on it with METRICS_PORT and access logs. */
async function startWithMetrics(env: Record<string, string>) {
  const db = await freshDatabase("sqlite");
  const client = await seed(db);
  const metricsPort = await freePort();
  const gatehouse = await startGatehouse(db, { ...env, METRICS_PORT: String(metricsPort), LOG_LEVEL: "info" });
  return { db, gatehouse, client, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

describe("one process with METRICS_PORT", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let client: Client;
  let metricsUrl: string;

  beforeAll(async () => {
    ({ db, gatehouse, client, metricsUrl } = await startWithMetrics({}));
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("a scrape after some traffic shows token issuance by grant type and client, errors by code, requests by endpoint and status, and process metrics", async () => {
    for (let i = 0; i < 3; i++) expect((await tokenRequest(gatehouse.issuer, client)).status).toBe(200);
    expect((await tokenRequest(gatehouse.issuer, client, { secret: "wrong-secret" })).status).toBe(401);
    const unsupported = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:example:made-up" }),
    });
    expect(unsupported.status).toBe(400);
    expect((await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`)).status).toBe(200);

    const scrape = await fetch(`${metricsUrl}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    expect(sample(text, `gatehouse_authorization_server_tokens_issued_total{grant_type="client_credentials",client_id="${client.id}"}`)).toBe(3);
    expect(sample(text, 'gatehouse_authorization_server_errors_total{endpoint="token",error="invalid_client"}')).toBe(1);
    expect(sample(text, 'gatehouse_authorization_server_errors_total{endpoint="token",error="unsupported_grant_type"}')).toBe(1);
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="token",status="200"}')).toBe(3);
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="token",status="401"}')).toBe(1);
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="discovery",status="200"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gatehouse_authorization_server_request_duration_seconds_count{endpoint="token"}')).toBe(5);
    expect(sample(text, 'gatehouse_authorization_server_request_duration_seconds_bucket{endpoint="token",le="+Inf"}')).toBe(5);
    // The gateway's families are there, empty until it has traffic; Node's process metrics too.
    expect(text).toContain("# TYPE gatehouse_gateway_requests_total counter");
    expect(text).toContain("# TYPE gatehouse_gateway_upstream_duration_seconds histogram");
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    // Nothing but /metrics on that port.
    expect((await fetch(`${metricsUrl}/`)).status).toBe(404);
    expect((await fetch(`${metricsUrl}/metrics`, { method: "POST" })).status).toBe(405);
  });

  test("a well-formed X-Request-Id comes back and is in the access log line; anything else is replaced by a new id", async () => {
    const given = "lb-7f3a9c21-0001";
    const kept = await tokenRequest(gatehouse.issuer, client, { requestId: given });
    expect(kept).toEqual({ status: 200, requestId: given });
    const replaced = await tokenRequest(gatehouse.issuer, client, { secret: "wrong-secret", requestId: "two words, <and> more" });
    expect(replaced.status).toBe(401);
    expect(replaced.requestId).toMatch(UUID);
    const none = await fetch(`${gatehouse.issuer}/jwks`);
    expect(none.headers.get("x-request-id")).toMatch(UUID);

    await new Promise((r) => setTimeout(r, 200));
    const lines = accessLines(gatehouse);
    expect(lines.find((line) => line.request_id === given)).toEqual({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      msg: "access",
      server: "authorization-server",
      request_id: given,
      method: "POST",
      path: "/token",
      status: 200,
      duration_ms: expect.any(Number),
      api: ORDERS,
      route: "token",
      client_id: client.id,
    });
    expect(lines.find((line) => line.request_id === replaced.requestId)).toMatchObject({ path: "/token", status: 401, route: "token", client_id: client.id, reason: "invalid_client" });
    expect(lines.find((line) => line.request_id === none.headers.get("x-request-id"))).toMatchObject({ method: "GET", path: "/jwks", status: 200, route: "jwks" });
    expect(JSON.stringify(lines)).not.toContain("two words");
  });

  /** A client credentials access token for `resource`. */
  async function accessToken(scope: string, resource: string): Promise<string> {
    const issued = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope, resource }),
    });
    return ((await issued.json()) as { access_token: string }).access_token;
  }

  test("a JWT introspected successfully is no error: oidc-provider's refusal, answered by Gatehouse after it, is neither counted nor logged", async () => {
    const access_token = await accessToken("orders:read", ORDERS);
    const introspected = await fetch(`${gatehouse.issuer}/introspect`, {
      method: "POST",
      headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded", "x-request-id": "introspect-jwt-1" },
      body: new URLSearchParams({ token: access_token }),
    });
    expect(introspected.status).toBe(200);
    expect(await introspected.json()).toMatchObject({ active: true });

    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(text).not.toMatch(/^gatehouse_authorization_server_errors_total\{endpoint="introspection"/m);
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="introspection",status="200"}')).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    const line = accessLines(gatehouse).find((l) => l.request_id === "introspect-jwt-1");
    expect(line).toMatchObject({ path: "/introspect", status: 200, route: "introspection" });
    expect(line!.reason).toBeUndefined();
  });

  test("an opaque token introspected again is answered from memory: cache lookups by outcome", async () => {
    const access_token = await accessToken("ledger:read", LEDGER);
    expect(access_token.split(".")).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      const introspected = await fetch(`${gatehouse.issuer}/introspect`, {
        method: "POST",
        headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: access_token, token_type_hint: "access_token" }),
      });
      expect(await introspected.json()).toMatchObject({ active: true, aud: LEDGER });
    }
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    // The first introspection reads the token (as each opaque model oidc-provider asks for); the next two do not.
    const misses = sample(text, 'gatehouse_authorization_server_cache_lookups_total{cache="opaque_access_token",outcome="miss"}');
    expect(misses).toBeGreaterThanOrEqual(1);
    expect(misses).toBeLessThanOrEqual(2);
    expect(sample(text, 'gatehouse_authorization_server_cache_lookups_total{cache="opaque_access_token",outcome="hit"}')).toBeGreaterThanOrEqual(2);
  });

  test("/healthz and /readyz answer with the checks; successful probes are not logged", async () => {
    const live = await fetch(`${gatehouse.issuer}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${gatehouse.issuer}/readyz`, { headers: { "x-request-id": "probe-1" } });
    expect(ready.status).toBe(200);
    expect(ready.headers.get("cache-control")).toBe("no-store");
    expect(await ready.json()).toEqual({ status: "ready", checks: { database: "ok", configuration: "ok", signing_keys: "ok" } });
    await new Promise((r) => setTimeout(r, 200));
    expect(accessLines(gatehouse).some((line) => line.request_id === "probe-1")).toBe(false);
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="health",status="200"}')).toBeGreaterThanOrEqual(2);
  });
});

describe("WORKERS=2 with METRICS_PORT", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let client: Client;
  let metricsUrl: string;

  beforeAll(async () => {
    ({ db, gatehouse, client, metricsUrl } = await startWithMetrics({ WORKERS: "2" }));
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("one scrape of the primary returns every worker's counters, summed", async () => {
    // Both workers listen (the port is shared): wait until the second one has come up too.
    const deadline = Date.now() + 20_000;
    while ((gatehouse.output().match(/"msg":"authorization server listening"/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    // New connections are dealt to the workers in turn (node:cluster's round-robin): each answers half,
    // and counts only its own.
    const REQUESTS = 20;
    for (let i = 0; i < REQUESTS; i++) expect((await tokenRequest(gatehouse.issuer, client)).status).toBe(200);
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(sample(text, `gatehouse_authorization_server_tokens_issued_total{grant_type="client_credentials",client_id="${client.id}"}`)).toBe(REQUESTS);
    expect(sample(text, 'gatehouse_authorization_server_requests_total{endpoint="token",status="200"}')).toBe(REQUESTS);
    expect(sample(text, 'gatehouse_authorization_server_request_duration_seconds_count{endpoint="token"}')).toBe(REQUESTS);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});

describe("without METRICS_PORT", () => {
  test("no metrics port is opened, and requests still carry ids", async () => {
    const db = await freshDatabase("sqlite");
    const client = await seed(db);
    const gatehouse = await startGatehouse(db, { LOG_LEVEL: "info" });
    try {
      expect((await tokenRequest(gatehouse.issuer, client)).requestId).toMatch(UUID);
      expect(gatehouse.output()).not.toContain("metrics listening");
    } finally {
      await gatehouse.stop();
      await db.drop();
    }
  });
});
