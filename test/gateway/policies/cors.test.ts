// The cors policy end to end, as a browser meets it (Fetch standard, CORS protocol): preflights answered
// by the gateway without a token and without reaching the backend; a disallowed origin, method or header
// gets no CORS header at all; credentials with exact origins; exposed headers and max age; the actual
// request's response headers (the backend's and the gateway's own refusals alike); Vary: Origin; a
// route's policy replacing its API's.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";

const SHOP = "https://shop.example.com";
const OPEN = "https://open.example.com";
const APP = "https://app.example";
const ADMIN = "https://admin.example";
const EVIL = "https://evil.example";

/** Every CORS response header of a response, by name. */
function corsHeaders(response: Response): Record<string, string> {
  const found: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name.startsWith("access-control-")) found[name] = value;
  });
  return found;
}

/** A backend that sends its own CORS headers: the gateway owns CORS on its routes and drops them. */
async function startCorsBackend() {
  const urls: string[] = [];
  const server = http.createServer((req, res) => {
    urls.push(req.url ?? "");
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*", "access-control-allow-headers": "*", vary: "Accept-Encoding" });
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    urls,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(r);
    }),
  };
}

describe.each(BACKENDS)("cors policy on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let corsBackend: Awaited<ReturnType<typeof startCorsBackend>>;
  let gateway: string;
  let bearer: string;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    upstream = await startUpstream();
    corsBackend = await startCorsBackend();
    const client = await withServices(db, async (services) => {
      await services.apis.apply({
        identifier: SHOP,
        name: "Shop",
        scopes: ["shop:read", "shop:write"],
        policies: {
          cors: {
            origins: [APP, ADMIN],
            methods: ["GET", "POST"],
            headers: ["Authorization", "Content-Type", "X-Trace"],
            expose_headers: ["X-Total-Count"],
            max_age: 300,
            credentials: true,
          },
          rate_limit: { limits: [{ by: "client", requests: 1000, per: "minute" }] },
        },
      });
      const scopes = { GET: { all_of: ["shop:read"], any_of: [] }, POST: { all_of: ["shop:write"], any_of: [] } };
      await services.routes.apply(SHOP, { path_prefix: "/cart", upstream: upstream.url, rewrite: "keep", scopes });
      await services.routes.apply(SHOP, { path_prefix: "/own-cors", upstream: corsBackend.url, rewrite: "keep" });
      // The route's policy replaces the API's: another origin, no credentials.
      await services.routes.apply(SHOP, { path_prefix: "/partner", upstream: upstream.url, rewrite: "keep", policies: { cors: { origins: ["https://partner.example"] } } });
      await services.apis.apply({ identifier: OPEN, name: "Open", policies: { cors: { origins: ["*"] } } });
      await services.routes.apply(OPEN, { path_prefix: "/catalog", upstream: upstream.url, rewrite: "keep", public: true });
      const created = await services.clients.create({ client_name: "shop", grant_types: ["client_credentials"], scopes: ["shop:read"] });
      return { id: created.client.client_id, secret: created.client_secret! };
    });
    gatehouse = await startGatehouse(db, { LOG_LEVEL: "info" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "shop:read", resource: SHOP }),
    });
    bearer = ((await response.json()) as { access_token: string }).access_token;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await corsBackend?.close();
    await db?.drop();
  });

  const preflight = (path: string, origin: string, method: string, headers?: string) =>
    fetch(`${gateway}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method, ...(headers ? { "access-control-request-headers": headers } : {}) },
    });
  /** Requests either backend received for a path containing `marker`. */
  const reached = (marker: string) => [...upstream.received.map((r) => r.url), ...corsBackend.urls].filter((url) => url.includes(marker)).length;

  test("an allowed preflight is answered by the gateway: no token needed, the backend never asked", async () => {
    const response = await preflight("/cart/pre", APP, "POST", "authorization,content-type,x-trace");
    expect(response.status).toBe(204);
    expect(corsHeaders(response)).toEqual({
      "access-control-allow-origin": APP,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "Authorization, Content-Type, X-Trace",
      "access-control-max-age": "300",
    });
    expect(response.headers.get("vary")).toBe("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    expect(await response.text()).toBe("");
    // The other listed origin gets its own origin back, never the list.
    expect((await preflight("/cart/pre", ADMIN, "GET")).headers.get("access-control-allow-origin")).toBe(ADMIN);
    expect(reached("/cart/pre")).toBe(0);
  });

  test("a disallowed origin, method or header gets 403 and no CORS header at all; the backend never asked", async () => {
    const cases: Array<[string, string, string | undefined, string]> = [
      [EVIL, "GET", undefined, "cors_origin"],
      // Origins match exactly: scheme, host and port.
      ["http://app.example", "GET", undefined, "cors_origin"],
      ["https://app.example:8443", "GET", undefined, "cors_origin"],
      ["null", "GET", undefined, "cors_origin"],
      [APP, "DELETE", undefined, "cors_method"],
      [APP, "POST", "authorization,x-admin", "cors_headers"],
    ];
    // /own-cors takes every method: DELETE is refused by the policy, not by the route.
    for (const [origin, method, headers, reason] of cases) {
      const response = await preflight("/own-cors/refused", origin, method, headers);
      expect([origin, method, response.status, corsHeaders(response)]).toEqual([origin, method, 403, {}]);
      expect(await response.json()).toMatchObject({ error: "cors_refused" });
      expect(gatehouse.output()).toContain(`"reason":"${reason}"`);
    }
    // A method no route of the path takes: the route's 405, still without a CORS header.
    const unrouted = await preflight("/cart/refused", APP, "DELETE");
    expect([unrouted.status, corsHeaders(unrouted)]).toEqual([405, {}]);
    expect(reached("/refused")).toBe(0);
  });

  test("the actual request from an allowed origin: its origin, credentials and exposed headers on the backend's answer, with Vary: Origin", async () => {
    const response = await fetch(`${gateway}/cart/items`, { headers: { origin: APP, authorization: `Bearer ${bearer}` } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response)).toEqual({
      "access-control-allow-origin": APP,
      "access-control-allow-credentials": "true",
      "access-control-expose-headers": "X-Total-Count",
    });
    expect(response.headers.get("vary")).toMatch(/\bOrigin\b/);
    expect(reached("/cart/items")).toBe(1);
  });

  test("the gateway's own refusals carry the CORS headers too, so the page can read them", async () => {
    const missing = await fetch(`${gateway}/cart/items`, { headers: { origin: APP } });
    expect(missing.status).toBe(401);
    expect(missing.headers.get("access-control-allow-origin")).toBe(APP);
    expect(missing.headers.get("access-control-expose-headers")).toBe("X-Total-Count, WWW-Authenticate, Retry-After, RateLimit-Policy, RateLimit");
    expect(missing.headers.get("vary")).toMatch(/\bOrigin\b/);
    const scope = await fetch(`${gateway}/cart/items`, { method: "POST", headers: { origin: APP, authorization: `Bearer ${bearer}` } });
    expect([scope.status, scope.headers.get("access-control-allow-origin")]).toEqual([403, APP]);
  });

  test("a disallowed origin's actual request gets no CORS header (the browser keeps the answer from the page), still Vary: Origin", async () => {
    const response = await fetch(`${gateway}/cart/items`, { headers: { origin: EVIL, authorization: `Bearer ${bearer}` } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response)).toEqual({});
    expect(response.headers.get("vary")).toMatch(/\bOrigin\b/);
    const noOrigin = await fetch(`${gateway}/cart/items`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(corsHeaders(noOrigin)).toEqual({});
    expect(noOrigin.headers.get("vary")).toMatch(/\bOrigin\b/);
  });

  test("the gateway owns CORS on the route: the backend's own CORS headers are dropped, its Vary kept", async () => {
    const allowed = await fetch(`${gateway}/own-cors/x`, { headers: { origin: APP, authorization: `Bearer ${bearer}` } });
    expect(corsHeaders(allowed)).toEqual({ "access-control-allow-origin": APP, "access-control-allow-credentials": "true", "access-control-expose-headers": "X-Total-Count" });
    expect(allowed.headers.get("vary")).toBe("Accept-Encoding, Origin");
    const disallowed = await fetch(`${gateway}/own-cors/x`, { headers: { origin: EVIL, authorization: `Bearer ${bearer}` } });
    expect(corsHeaders(disallowed)).toEqual({});
  });

  test("a route's cors policy replaces its API's", async () => {
    expect((await preflight("/partner/x", APP, "GET")).status).toBe(403);
    const partner = await preflight("/partner/x", "https://partner.example", "GET");
    expect(partner.status).toBe(204);
    // Its own settings, defaults included: no credentials.
    expect(corsHeaders(partner)).toEqual({
      "access-control-allow-origin": "https://partner.example",
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
      "access-control-allow-headers": "Authorization, Content-Type",
      "access-control-max-age": "600",
    });
  });

  test("* allows every origin without credentials; an OPTIONS that is no preflight is an ordinary request", async () => {
    const pre = await preflight("/catalog/1", EVIL, "GET");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    const actual = await fetch(`${gateway}/catalog/1`, { headers: { origin: "https://anyone.example" } });
    expect([actual.status, actual.headers.get("access-control-allow-origin")]).toEqual([200, "*"]);
    // No Access-Control-Request-Method: the route gets it like any other method.
    const options = await fetch(`${gateway}/catalog/plain`, { method: "OPTIONS", headers: { origin: APP } });
    expect(options.status).toBe(200);
    expect(reached("/catalog/plain")).toBe(1);
  });
});
