// The operations parts the gateway is wired to (shared/metrics.ts, operations/request-id.ts,
// access-log.ts, health.ts), in isolation: its metric recorders and what a scrape shows of them, request
// ids, the access log line, and the health endpoints on a Koa app and on a plain Node server.
import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { accessFields, pathOf } from "../../src/operations/access-log.ts";
import { healthEndpoints } from "../../src/operations/health.ts";
import { isWellFormedRequestId, newRequestId, REQUEST_ID_HEADER, requestIdOf } from "../../src/operations/request-id.ts";
import * as metrics from "../../src/shared/metrics.ts";
import { setLogLevel } from "../../src/shared/logger.ts";
import { sample } from "../helpers/operations.ts";

beforeAll(() => setLogLevel("silent"));
afterAll(() => setLogLevel("info"));

describe("gateway metrics", () => {
  test("off until enabled: the recorders are no-ops and no registry exists", () => {
    expect(metrics.gatewayMetrics.enabled).toBe(false);
    expect(metrics.authorizationServerMetrics.enabled).toBe(false);
    expect(metrics.metricsRegistry()).toBeUndefined();
    const route = metrics.gatewayMetrics.route("https://orders.example.com", "r1");
    expect(metrics.gatewayMetrics.route("https://billing.example.com", "r2")).toBe(route);
    route.request("GET", 200, 0.01);
    metrics.gatewayMetrics.decision("allowed");
  });

  test("a scrape after some traffic shows every counter and histogram with its labels", async () => {
    const registry = metrics.enableMetrics();
    expect(metrics.enableMetrics()).toBe(registry);
    const gateway = metrics.gatewayMetrics;
    expect(gateway.enabled).toBe(true);

    const orders = gateway.route("https://orders.example.com", "route-1");
    expect(gateway.route("https://orders.example.com", "route-1")).toBe(orders);
    orders.request("GET", 200, 0.004);
    orders.request("GET", 200, 0.02);
    orders.request("POST", 403, 0.0003);
    orders.upstream(0.003);
    orders.upstreamError("timeout");
    gateway.request("https://orders.example.com", "route-1", "GET", 504, 5.1);
    gateway.upstreamError("https://orders.example.com", "route-1", "timeout");
    gateway.request(undefined, undefined, "GET", 404, 0.0001);
    gateway.decision("allowed");
    gateway.decision("allowed");
    gateway.decision("token_expired");
    gateway.decision("no_route");
    gateway.outboundTokenFetch("https://billing.example.com", "success", 0.05);
    gateway.outboundTokenFetch("https://billing.example.com", "failure", 5);

    const text = await registry.metrics();
    const labels = 'api="https://orders.example.com",route="route-1"';
    expect(sample(text, `gatehouse_gateway_requests_total{${labels},method="GET",status="200"}`)).toBe(2);
    expect(sample(text, `gatehouse_gateway_requests_total{${labels},method="POST",status="403"}`)).toBe(1);
    expect(sample(text, `gatehouse_gateway_requests_total{${labels},method="GET",status="504"}`)).toBe(1);
    expect(sample(text, 'gatehouse_gateway_requests_total{api="",route="",method="GET",status="404"}')).toBe(1);
    // Histograms: cumulative buckets, sum and count.
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_bucket{${labels},le="0.0005"}`)).toBe(1);
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_bucket{${labels},le="0.005"}`)).toBe(2);
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_bucket{${labels},le="5"}`)).toBe(3);
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_bucket{${labels},le="+Inf"}`)).toBe(4);
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_count{${labels}}`)).toBe(4);
    expect(sample(text, `gatehouse_gateway_request_duration_seconds_sum{${labels}}`)).toBeCloseTo(5.1243, 6);
    expect(sample(text, `gatehouse_gateway_upstream_duration_seconds_count{${labels}}`)).toBe(1);
    expect(sample(text, `gatehouse_gateway_upstream_errors_total{${labels},kind="timeout"}`)).toBe(2);
    expect(sample(text, 'gatehouse_gateway_decisions_total{reason="allowed"}')).toBe(2);
    expect(sample(text, 'gatehouse_gateway_decisions_total{reason="token_expired"}')).toBe(1);
    expect(sample(text, 'gatehouse_gateway_decisions_total{reason="no_route"}')).toBe(1);
    expect(sample(text, 'gatehouse_gateway_outbound_token_fetches_total{api="https://billing.example.com",outcome="success"}')).toBe(1);
    expect(sample(text, 'gatehouse_gateway_outbound_token_fetches_total{api="https://billing.example.com",outcome="failure"}')).toBe(1);
    expect(sample(text, 'gatehouse_gateway_outbound_token_fetch_duration_seconds_count{api="https://billing.example.com"}')).toBe(2);
    expect(text).toContain("# TYPE gatehouse_gateway_requests_total counter");
    expect(text).toContain("# TYPE gatehouse_gateway_request_duration_seconds histogram");
    // Process metrics.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);

    // The authorization server's recorder, on the same registry.
    const as = metrics.authorizationServerMetrics;
    as.tokenIssued("client_credentials", "worker");
    as.error("token", "invalid_client");
    as.request("token", 200, 0.03);
    const after = await registry.metrics();
    expect(sample(after, 'gatehouse_authorization_server_tokens_issued_total{grant_type="client_credentials",client_id="worker"}')).toBe(1);
    expect(sample(after, 'gatehouse_authorization_server_errors_total{endpoint="token",error="invalid_client"}')).toBe(1);
    expect(sample(after, 'gatehouse_authorization_server_requests_total{endpoint="token",status="200"}')).toBe(1);
  });

  test("labels a client can make up stay bounded: methods other than the standard ones are \"other\", however many come first", async () => {
    const registry = metrics.enableMetrics();
    const route = metrics.gatewayMetrics.route("https://bounded.example.com", "route-bounded");
    // Methods a caller makes up first do not push the standard ones out: those keep their own series.
    for (let i = 0; i < 40; i++) route.request(`M${i}`, 200, 0.001);
    route.request("PATCH", 200, 0.001);
    route.request("ACL", 200, 0.001);
    const text = await registry.metrics();
    const methods = text.split("\n").filter((l) => l.startsWith('gatehouse_gateway_requests_total{api="https://bounded.example.com"'));
    expect(methods).toHaveLength(2);
    expect(sample(text, 'gatehouse_gateway_requests_total{api="https://bounded.example.com",route="route-bounded",method="other",status="200"}')).toBe(41);
    expect(sample(text, 'gatehouse_gateway_requests_total{api="https://bounded.example.com",route="route-bounded",method="PATCH",status="200"}')).toBe(1);
  });

  test("a route moved to another API gets its own series", async () => {
    const registry = metrics.enableMetrics();
    metrics.gatewayMetrics.request("https://a.example.com", "route-moved", "GET", 200, 0.001);
    metrics.gatewayMetrics.request("https://b.example.com", "route-moved", "GET", 200, 0.001);
    const text = await registry.metrics();
    expect(sample(text, 'gatehouse_gateway_requests_total{api="https://a.example.com",route="route-moved",method="GET",status="200"}')).toBe(1);
    expect(sample(text, 'gatehouse_gateway_requests_total{api="https://b.example.com",route="route-moved",method="GET",status="200"}')).toBe(1);
  });

  test("upstream failures are told from the gateway's own refusals by their reason", () => {
    expect(metrics.upstreamErrorKind("upstream_timeout")).toBe("timeout");
    expect(metrics.upstreamErrorKind("upstream_unreachable")).toBe("unreachable");
    expect(metrics.upstreamErrorKind("token_expired")).toBeUndefined();
  });
});

describe("request ids", () => {
  const request = (value?: string | string[]) => ({ headers: value === undefined ? {} : { [REQUEST_ID_HEADER]: value } }) as unknown as http.IncomingMessage;

  test("a well-formed X-Request-Id is kept", () => {
    for (const id of ["abc", "0b8a3c7e-1f4e-4c1a-9d2e-5f3b2a1c0d9e", "Root=1-5759e988-bd862e3fe1be46a994272793", "a".repeat(128), "trace:span.1_2+x/y"]) {
      expect(isWellFormedRequestId(id)).toBe(true);
      expect(requestIdOf(request(id))).toBe(id);
    }
  });

  test("anything else is replaced with a new UUID", () => {
    for (const id of [undefined, "", "a".repeat(129), "two words", "a,b", 'quote"', "line\nbreak", "é", "<script>", "x;y"]) {
      expect(isWellFormedRequestId(id)).toBe(false);
      const generated = requestIdOf(request(id));
      expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(newRequestId()).not.toBe(newRequestId());
  });
});

describe("access log line", () => {
  test("carries the request id, method, path without query, status, duration, API, route, client and reason", () => {
    expect(
      accessFields("gateway", {
        requestId: "req-1",
        method: "GET",
        url: "/orders/42?access_token=secret-in-query&x=1",
        status: 200,
        seconds: 0.0012345,
        api: "https://orders.example.com",
        route: "route-1",
        clientId: "worker",
        reason: "allowed",
      }),
    ).toEqual({
      server: "gateway",
      request_id: "req-1",
      method: "GET",
      path: "/orders/42",
      status: 200,
      duration_ms: 1.235,
      api: "https://orders.example.com",
      route: "route-1",
      client_id: "worker",
      reason: "allowed",
      aborted: undefined,
    });
  });

  test("the path is cut at 1024 characters", () => {
    expect(pathOf(`/${"a".repeat(2000)}?q`)).toHaveLength(1025);
    expect(pathOf(undefined)).toBe("");
    expect(pathOf("/x")).toBe("/x");
  });
});

describe("health endpoints", () => {
  async function serve(handler: http.RequestListener) {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
  }

  test("on a Koa app: /healthz answers, /readyz runs the checks, everything else passes on", async () => {
    const state = { database: true, keys: true };
    const health = healthEndpoints({
      server: "test",
      timeoutMs: 200,
      checks: { database: () => (state.database ? Promise.resolve() : Promise.reject(new Error("down"))), signing_keys: () => state.keys },
    });
    const app = new Koa();
    app.use(health.middleware);
    app.use((ctx) => (ctx.body = "app"));
    const server = await serve(app.callback());
    try {
      const live = await fetch(`${server.url}/healthz`);
      expect(live.status).toBe(200);
      expect(live.headers.get("cache-control")).toBe("no-store");
      expect(await live.json()).toEqual({ status: "ok" });
      expect(await (await fetch(`${server.url}/readyz?verbose`)).json()).toEqual({ status: "ready", checks: { database: "ok", signing_keys: "ok" } });

      state.database = false;
      state.keys = false;
      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: "not_ready", checks: { database: "failed", signing_keys: "failed" } });
      // Liveness does not depend on readiness.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      const head = await fetch(`${server.url}/readyz`, { method: "HEAD" });
      expect(head.status).toBe(503);
      expect(await head.text()).toBe("");

      for (const path of ["/healthz/x", "/readyzz", "/health", "/"]) expect(await (await fetch(`${server.url}${path}`)).text()).toBe("app");
      // Another method on a probe's path is refused there, never passed on.
      const post = await fetch(`${server.url}/healthz`, { method: "POST" });
      expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    } finally {
      await server.close();
    }
  });

  test("a check that does not answer fails readiness within the timeout, and is joined rather than started again", async () => {
    let started = 0;
    let hanging = true;
    let release: () => void = () => undefined;
    const health = healthEndpoints({
      server: "test",
      timeoutMs: 150,
      checks: {
        database: () => {
          started++;
          return hanging ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
        },
      },
    });
    const server = await serve((req, res) => {
      if (!health.handlePath(new URL(req.url!, "http://test").pathname, req, res)) res.writeHead(404).end();
    });
    try {
      const began = performance.now();
      const answers = await Promise.all(Array.from({ length: 5 }, () => fetch(`${server.url}/readyz`)));
      expect(performance.now() - began).toBeLessThan(1000);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(await answer.json()).toEqual({ status: "not_ready", checks: { database: "timeout" } });
      }
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
      expect(started).toBe(1);
      // The database answers again: the next probe is ready.
      hanging = false;
      release();
      await new Promise((r) => setTimeout(r, 10));
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(started).toBe(2);
      expect((await fetch(`${server.url}/other`)).status).toBe(404);
    } finally {
      release();
      await server.close();
    }
  });
});
