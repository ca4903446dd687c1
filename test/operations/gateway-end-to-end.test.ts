// The gateway's operations in a running Gatehouse: a request id from the caller (or a new one) reaches
// the backend and comes back, every request has one access log line with its API, route, client and
// decision, a scrape after traffic shows the gateway's counters, and /healthz and /readyz answer on the
// gateway's port (readiness failing while the database is unreachable, in readiness.test.ts for the
// authorization server; here while the PostgreSQL relay is cut).
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { tokenHash } from "../../src/shared/logger.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { tcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";
import { sample, accessLines } from "../helpers/operations.ts";

const ORDERS = "https://orders.example.com";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("the gateway's request ids, access log, metrics and health (PostgreSQL behind a relay)", () => {
  let db: FreshDatabase;
  let relay: TcpProxy;
  let upstream: Upstream;
  let gatehouse: RunningGatehouse;
  let gateway: string;
  let metricsUrl: string;
  let clientId: string;
  let token: string;
  let routeId: string;
  /** A backend that answers with an X-Request-Id of its own. */
  let ownId: http.Server;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    upstream = await startUpstream();
    ownId = http.createServer((_req, res) => {
      res.writeHead(200, { "x-request-id": "backend-made-id", "content-type": "text/plain" });
      res.end("ok");
    });
    await new Promise<void>((resolve) => ownId.listen(0, "127.0.0.1", resolve));
    const ownIdUrl = `http://127.0.0.1:${(ownId.address() as AddressInfo).port}`;
    const seeded = await withServices(db, async (services) => {
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read", "orders:write"] });
      const { route } = await services.routes.apply(ORDERS, { path_prefix: "/orders", upstream: upstream.url, scopes: { GET: { all_of: ["orders:read"], any_of: [] } } });
      await services.routes.apply(ORDERS, { path_prefix: "/down", upstream: "http://127.0.0.1:9" });
      await services.routes.apply(ORDERS, { path_prefix: "/own-id", upstream: ownIdUrl });
      // A catch-all on its own host: whatever no other route owns there would reach the backend through it.
      await services.routes.apply(ORDERS, { path_prefix: "/", host: "catch-all.example", upstream: upstream.url, public: true });
      const { client, client_secret } = await services.clients.create({ client_name: "worker", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { routeId: route.id, clientId: client.client_id, secret: client_secret! };
    });
    ({ routeId, clientId } = seeded);
    relay = await tcpProxy(5432);
    const url = new URL(db.url);
    url.port = String(relay.port);
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    gatehouse = await startGatehouse(db, { DATABASE_URL: url.href, METRICS_PORT: String(metricsPort), LOG_LEVEL: "info", READINESS_TIMEOUT_MS: "500", DB_QUERY_TIMEOUT_MS: "2000", DB_CONNECT_TIMEOUT_MS: "1000" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${seeded.secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS }),
    });
    token = ((await response.json()) as { access_token: string }).access_token;
  });

  afterAll(async () => {
    relay?.restore();
    await gatehouse?.stop();
    await relay?.close();
    await upstream?.close();
    ownId?.closeAllConnections();
    await new Promise((r) => ownId?.close(r));
    await db?.drop();
  });

  test("a well-formed X-Request-Id reaches the backend and comes back; a malformed one is replaced in both places", async () => {
    const given = "lb-7f3a9c21-0002";
    const kept = await fetch(`${gateway}/orders/1`, { headers: { authorization: `Bearer ${token}`, "x-request-id": given } });
    expect(kept.status).toBe(200);
    expect(kept.headers.get("x-request-id")).toBe(given);
    expect(upstream.received.at(-1)!.headers["x-request-id"]).toBe(given);

    const replaced = await fetch(`${gateway}/orders/2`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "two words\tand a tab" } });
    expect(replaced.status).toBe(200);
    const id = replaced.headers.get("x-request-id")!;
    expect(id).toMatch(UUID);
    expect(upstream.received.at(-1)!.headers["x-request-id"]).toBe(id);

    // A refusal has an id too, and never reaches the backend.
    const before = upstream.received.length;
    const refused = await fetch(`${gateway}/orders/3`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("x-request-id")).toMatch(UUID);
    expect(upstream.received.length).toBe(before);
  });

  test("the caller gets the gateway's request id even when the backend answers with one of its own", async () => {
    const response = await fetch(`${gateway}/own-id/x`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "caller-id-1" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("caller-id-1");
  });

  test("every spelling of the probes' paths is the probe's: never forwarded, not even through a catch-all route", async () => {
    const before = upstream.received.length;
    /** A raw request, so the target is sent exactly as written (fetch would normalize it). */
    const raw = (method: string, target: string) =>
      new Promise<{ status: number; allow?: string }>((resolve, reject) => {
        const socket = net.connect(Number(gatehouse.env.GATEWAY_PORT), "127.0.0.1", () => socket.write(`${method} ${target} HTTP/1.1\r\nHost: catch-all.example\r\nConnection: close\r\n\r\n`));
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk));
        socket.on("end", () => resolve({ status: Number(text.slice(9, 12)), allow: /\r\nallow: ([^\r]*)/i.exec(text)?.[1] }));
        socket.on("error", reject);
      });
    for (const target of ["/healthz", "/./healthz", "//healthz", "/%68ealthz", "/x/../healthz", "/readyz", "/./readyz"]) expect([target, (await raw("GET", target)).status]).toEqual([target, 200]);
    for (const method of ["POST", "DELETE", "OPTIONS"]) expect(await raw(method, "/healthz")).toEqual({ status: 405, allow: "GET, HEAD" });
    expect((await raw("POST", "/./readyz")).status).toBe(405);
    for (const target of ["/healthz/", "/healthz/x", "/readyz/deep/er"]) expect([target, (await raw("GET", target)).status]).toEqual([target, 404]);
    expect(upstream.received.length).toBe(before);
    // The catch-all does serve its host otherwise.
    expect((await raw("GET", "/elsewhere")).status).toBe(200);
    expect(upstream.received.length).toBe(before + 1);
  });

  test("a WebSocket upgrade has its request id, its access log line and its metrics; a refused one too", async () => {
    const opened = await new Promise<{ id: string | undefined; hello: string }>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/orders/socket`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "ws-open-1" } });
      let id: string | undefined;
      socket.on("upgrade", (response) => (id = response.headers["x-request-id"] as string | undefined));
      socket.on("message", (data) => {
        resolve({ id, hello: String(data) });
        socket.close();
      });
      socket.on("error", reject);
    });
    expect(opened.id).toBe("ws-open-1");
    const refused = await new Promise<{ status: number; id: string | undefined }>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/orders/socket`, { headers: { "x-request-id": "ws-refused-1" } });
      socket.on("unexpected-response", (_request, response) => {
        resolve({ status: response.statusCode!, id: response.headers["x-request-id"] as string | undefined });
        response.resume();
        socket.terminate();
      });
      socket.on("error", () => undefined);
    });
    expect(refused).toEqual({ status: 401, id: "ws-refused-1" });
    await new Promise((r) => setTimeout(r, 200));
    const lines = accessLines(gatehouse, "gateway");
    expect(lines.find((l) => l.request_id === "ws-open-1")).toMatchObject({ method: "GET", path: "/orders/socket", status: 101, route: routeId, client_id: clientId, reason: "allowed" });
    expect(lines.find((l) => l.request_id === "ws-refused-1")).toMatchObject({ status: 401, reason: "token_missing" });
    const scrape = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(sample(scrape, `gatehouse_gateway_requests_total{api="${ORDERS}",route="${routeId}",method="GET",status="101"}`)).toBe(1);
  });

  test("a refusal's log line names the token by the same hash as the authorization server's lines", async () => {
    const expired = `${token.slice(0, -4)}AAAA`;
    expect((await fetch(`${gateway}/orders/1`, { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    const refusals = gatehouse
      .output()
      .split("\n")
      .filter((line) => line.includes('"msg":"gateway refused"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(refusals.at(-1)!.token).toBe(tokenHash(expired));
  });

  test("one access log line per request: path without query, status, API, route, client and decision; never the token", async () => {
    const allowed = await fetch(`${gateway}/orders/7?page=2&note=query-leak`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "access-allowed-1" } });
    expect(allowed.status).toBe(200);
    const missing = await fetch(`${gateway}/orders/8`, { headers: { "x-request-id": "access-missing-1" } });
    expect(missing.status).toBe(401);
    const nowhere = await fetch(`${gateway}/nowhere`, { headers: { "x-request-id": "access-nowhere-1" } });
    expect(nowhere.status).toBe(404);
    const down = await fetch(`${gateway}/down/x`, { headers: { authorization: `Bearer ${token}`, "x-request-id": "access-down-1" } });
    expect(down.status).toBe(502);
    await new Promise((r) => setTimeout(r, 200));

    const lines = accessLines(gatehouse, "gateway");
    const line = (id: string) => lines.find((l) => l.request_id === id);
    expect(line("access-allowed-1")).toEqual({
      level: "info",
      time: expect.any(String),
      msg: "access",
      server: "gateway",
      request_id: "access-allowed-1",
      method: "GET",
      path: "/orders/7",
      status: 200,
      duration_ms: expect.any(Number),
      api: ORDERS,
      route: routeId,
      client_id: clientId,
      reason: "allowed",
    });
    expect(line("access-missing-1")).toMatchObject({ status: 401, api: ORDERS, route: routeId, reason: "token_missing" });
    expect(line("access-missing-1")!.client_id).toBeUndefined();
    expect(line("access-nowhere-1")).toMatchObject({ status: 404, path: "/nowhere", reason: "no_route" });
    expect(line("access-down-1")).toMatchObject({ status: 502, reason: "upstream_unreachable" });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(token);
    expect(text).not.toContain("query-leak");
  });

  test("a scrape after traffic shows the gateway's requests, decisions, upstream latency and errors", async () => {
    const scrape = await (await fetch(`${metricsUrl}/metrics`)).text();
    const labels = `api="${ORDERS}",route="${routeId}"`;
    expect(sample(scrape, `gatehouse_gateway_requests_total{${labels},method="GET",status="200"}`)).toBeGreaterThanOrEqual(3);
    expect(sample(scrape, `gatehouse_gateway_requests_total{${labels},method="GET",status="401"}`)).toBeGreaterThanOrEqual(2);
    expect(sample(scrape, 'gatehouse_gateway_requests_total{api="",route="",method="GET",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(sample(scrape, 'gatehouse_gateway_decisions_total{reason="allowed"}')).toBeGreaterThanOrEqual(3);
    expect(sample(scrape, 'gatehouse_gateway_decisions_total{reason="token_missing"}')).toBeGreaterThanOrEqual(2);
    expect(sample(scrape, 'gatehouse_gateway_decisions_total{reason="no_route"}')).toBeGreaterThanOrEqual(1);
    expect(sample(scrape, `gatehouse_gateway_upstream_duration_seconds_count{${labels}}`)).toBeGreaterThanOrEqual(3);
    expect(scrape).toMatch(/^gatehouse_gateway_upstream_errors_total\{api="https:\/\/orders\.example\.com",route="[^"]+",kind="unreachable"\} 1$/m);
  });

  test("/healthz and /readyz on the gateway's port; readiness fails while the database is cut and comes back by itself", async () => {
    expect(await (await fetch(`${gateway}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${gateway}/readyz`);
    expect([ready.status, ready.headers.get("cache-control")]).toEqual([200, "no-store"]);
    expect(await ready.json()).toEqual({ status: "ready", checks: { database: "ok", configuration: "ok", signing_keys: "ok" } });
    // The probes are the gateway's own, whatever routes exist: HEAD too, without a body.
    const head = await fetch(`${gateway}/healthz`, { method: "HEAD" });
    expect([head.status, await head.text()]).toEqual([200, ""]);

    relay.cut();
    const notReady = await fetch(`${gateway}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { checks: Record<string, string> }).checks.database).not.toBe("ok");
    expect((await fetch(`${gateway}/healthz`)).status).toBe(200);
    // Requests with a verified token still pass: nothing on their path needs the database.
    expect((await fetch(`${gateway}/orders/9`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);

    relay.restore();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await fetch(`${gateway}/readyz`)).status;
    }
    expect(status).toBe(200);
  });
});
