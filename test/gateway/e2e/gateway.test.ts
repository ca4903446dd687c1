// The gateway end to end: tokens from the real authorization server, a real backend that records
// what it receives, and every outcome the gateway promises.
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import WebSocket from "ws";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";

const ORDERS = "https://orders.example.com";
const OPAQUE = "https://opaque.example.com";
const SHORT = "https://short.example.com";
const BILLING = "https://billing.example.com";
const SIGNED = "https://signed.example.com";
const ORIGINAL = "https://original.example.com";

/** An external identity provider's token endpoint for outbound OAuth; counts the tokens it issues. */
async function startIdentityProvider() {
  const state = { calls: 0, fail: false, expiresIn: 3600 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      state.calls++;
      const auth = Buffer.from((req.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString();
      const params = new URLSearchParams(body);
      if (state.fail || auth !== "billing-client:billing-secret" || params.get("grant_type") !== "client_credentials") {
        res.writeHead(state.fail ? 500 : 401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: state.fail ? "server_error" : "invalid_client" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ access_token: `idp-token-${state.calls}`, token_type: "Bearer", expires_in: state.expiresIn, scope: params.get("scope") }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, state, close: () => new Promise((r) => {
    server.closeAllConnections();
    server.close(r);
  }) };
}

describe.each(BACKENDS)("gateway on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let idp: Awaited<ReturnType<typeof startIdentityProvider>>;
  let gateway: string;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    db = await freshDatabase(backend);
    upstream = await startUpstream();
    idp = await startIdentityProvider();
    client = await withServices(db, async (services) => {
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read", "orders:write"], claim_headers: { client_id: "X-Client" } });
      const orders = { upstream: `${upstream.url}/v1` };
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/orders", scopes: { GET: { all_of: ["orders:read"], any_of: [] }, POST: { all_of: ["orders:write"], any_of: [] } }, max_body_bytes: 1000 });
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/public", public: true });
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/slow", timeout_ms: 500, rewrite: "keep" });
      await services.routes.apply(ORDERS, { path_prefix: "/down", upstream: "http://127.0.0.1:9" });
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/socket" });
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/upload", max_body_bytes: 1000 });
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/readonly", methods: ["GET"] });
      const read = { all_of: ["orders:read"], any_of: [] };
      await services.routes.apply(ORDERS, { ...orders, path_prefix: "/defaulted", scopes: { GET: read, "*": { all_of: ["orders:write"], any_of: [] } } });
      await services.apis.apply({ identifier: OPAQUE, name: "Opaque", token_format: "opaque", token_check: "introspection", scopes: ["orders:read"] });
      await services.routes.apply(OPAQUE, { path_prefix: "/opaque", upstream: upstream.url, rewrite: "keep" });
      // 3 s: exp is iat + 3 with iat in whole seconds, so the token lives 2 to 3 s, enough for its first use on a loaded machine.
      await services.apis.apply({ identifier: SHORT, name: "Short", access_token_ttl: 3, scopes: ["orders:read"] });
      await services.routes.apply(SHORT, { path_prefix: "/short", upstream: upstream.url });
      await services.apis.apply({
        identifier: BILLING, name: "Billing", scopes: ["orders:read"],
        outbound_oauth: { token_url: idp.url, client_id: "billing-client", client_secret: "${BILLING_SECRET}", scope: "billing/.default", remove_headers: ["Ocp-Apim-Subscription-Key"] },
      });
      await services.routes.apply(BILLING, { path_prefix: "/billing", upstream: upstream.url, rewrite: "keep" });
      await services.apis.apply({
        identifier: "https://unreachable-idp.example.com", name: "IdP down", scopes: ["orders:read"],
        outbound_oauth: { token_url: "http://127.0.0.1:9/token", client_id: "x", client_secret: "y" },
      });
      await services.routes.apply("https://unreachable-idp.example.com", { path_prefix: "/idp-down", upstream: upstream.url });
      for (const [identifier, forwardToken] of [[SIGNED, "signed"], [ORIGINAL, "original"]] as const) {
        await services.apis.apply({ identifier, name: forwardToken, scopes: ["orders:read"], forward_token: forwardToken });
        await services.routes.apply(identifier, { path_prefix: `/${forwardToken}`, upstream: upstream.url, rewrite: "keep" });
      }
      const created = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { id: created.client.client_id, secret: created.client_secret! };
    });
    gatehouse = await startGatehouse(db, { GATEWAY_CLOCK_SKEW: "0", GATEWAY_INTROSPECTION_CACHE_TTL: "1", BILLING_SECRET: "billing-secret", LOG_LEVEL: "info" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await idp?.close();
    await db?.drop();
  });

  async function token(resource: string, scope = "orders:read"): Promise<string> {
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "client_credentials", scope, resource }),
    });
    const body = (await response.json()) as { access_token: string };
    return body.access_token;
  }

  const call = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(`${gateway}${path}`, { ...init, headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.headers as Record<string, string>) } });

  /** The request the upstream last received for a path containing `marker`. */
  const receivedFor = (marker: string) => [...upstream.received].reverse().find((r) => r.url.includes(marker));

  test("a valid token reaches the backend with the caller's identity, and spoofed identity headers are gone", async () => {
    const access = await token(ORDERS);
    const response = await call("/orders/42?expand=items&x=%2F", {
      token: access,
      headers: { "x-gatehouse-subject": "admin", "x-client": "spoofed", "x-forwarded-for": "10.9.9.9" },
    });
    expect(response.status).toBe(200);
    const seen = receivedFor("/v1/42")!;
    expect(seen.url).toBe("/v1/42?expand=items&x=%2F");
    expect(seen.headers["x-gatehouse-subject"]).toBe(client.id);
    expect(seen.headers["x-gatehouse-client-id"]).toBe(client.id);
    expect(seen.headers["x-gatehouse-scopes"]).toBe("orders:read");
    expect(seen.headers["x-client"]).toBe(client.id);
    expect(seen.headers.authorization).toBeUndefined();
  });

  test("identity, claim and token headers spelled with underscores are dropped too (a WSGI backend reads X_A as X-A)", async () => {
    const spoofed = { X_Gatehouse_Subject: "admin", x_gatehouse_scopes: "admin", "X_Gatehouse-Issuer": "https://evil.test", x_gatehouse_token: "forged", X_Client: "spoofed" };
    expect((await call("/orders/u1", { token: await token(ORDERS), headers: spoofed })).status).toBe(200);
    expect((await call("/public/u2", { headers: spoofed })).status).toBe(200);
    for (const marker of ["/v1/u1", "/v1/u2"]) {
      const seen = receivedFor(marker)!;
      for (const name of Object.keys(spoofed)) expect([marker, name, seen.headers[name.toLowerCase()]]).toEqual([marker, name, undefined]);
    }
    expect(receivedFor("/v1/u1")!.headers["x-gatehouse-subject"]).toBe(client.id);
    expect(receivedFor("/v1/u2")!.headers["x-gatehouse-subject"]).toBeUndefined();
  });

  test("at the edge (TRUST_PROXY unset) the client's forwarding headers are replaced, not appended to", async () => {
    const response = await call("/public/fwd", {
      headers: { "x-forwarded-for": "6.6.6.6", forwarded: "for=6.6.6.6", "x-real-ip": "6.6.6.6", "true-client-ip": "6.6.6.6", x_forwarded_for: "6.6.6.6", "x-forwarded-proto": "https" },
    });
    expect(response.status).toBe(200);
    const seen = receivedFor("/v1/fwd")!.headers;
    const host = `127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
    expect(seen).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": host, forwarded: `for=127.0.0.1;proto=http;host="${host}"` });
    expect(JSON.stringify(seen)).not.toContain("6.6.6.6");
  });

  test("method overrides never reach the backend: headers dropped, _method query parameters removed, form bodies with _method refused", async () => {
    const access = await token(ORDERS);
    const overrides = { "X-HTTP-Method-Override": "POST", "X-HTTP-Method": "DELETE", x_method_override: "PUT" };
    expect((await call("/orders/mo1?_method=DELETE&a=1&%5Fmethod=PUT", { token: access, headers: overrides })).status).toBe(200);
    const seen = receivedFor("/v1/mo1")!;
    expect(seen.method).toBe("GET");
    expect(seen.url).toBe("/v1/mo1?a=1");
    for (const name of Object.keys(overrides)) expect(seen.headers[name.toLowerCase()]).toBeUndefined();

    const before = upstream.received.length;
    for (const [contentType, body] of [
      ["application/x-www-form-urlencoded", "a=1&_method=DELETE"],
      ["multipart/form-data; boundary=xyz", '--xyz\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--xyz--\r\n'],
    ]) {
      const response = await call("/upload/mo2", { method: "POST", token: access, headers: { "content-type": contentType! }, body });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: "invalid_request" });
    }
    expect(upstream.received.length).toBe(before);
    expect(gatehouse.output()).toContain('"reason":"method_override"');
  });

  test("a method without a scope rule on a route with rules is 405 with Allow; so is one the route's methods exclude", async () => {
    const access = await token(ORDERS);
    for (const method of ["DELETE", "PUT", "PATCH", "OPTIONS"]) {
      const response = await call("/orders/1", { method, token: access });
      expect([method, response.status, response.headers.get("allow")]).toEqual([method, 405, "GET, HEAD, POST"]);
      expect(await response.json()).toEqual({ error: "method_not_allowed", error_description: "the route does not accept this method" });
    }
    expect((await call("/orders/1", { method: "HEAD", token: access })).status).toBe(200);
    const readonly = await call("/readonly/1", { method: "POST", token: access, body: "{}" });
    expect([readonly.status, readonly.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    // A default rule ("*") covers the methods without their own.
    const defaulted = await call("/defaulted/1", { method: "DELETE", token: access });
    expect(defaulted.status).toBe(403);
    expect(await defaulted.json()).toMatchObject({ error: "insufficient_scope", scope: "orders:write" });
    expect((await call("/defaulted/1", { token: access })).status).toBe(200);
  });

  test("a repeated Host, Authorization or Content-Length is 400", async () => {
    const access = await token(ORDERS);
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(gatehouse.env.GATEWAY_PORT), "127.0.0.1", () => socket.write(request));
        let answer = "";
        socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
        socket.setTimeout(3000, () => socket.destroy());
      });
    const requests = [
      `GET /orders/dup1 HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nAuthorization: Bearer ${access}\r\nConnection: close\r\n\r\n`,
      `GET /orders/dup2 HTTP/1.1\r\nHost: a.example\r\nAuthorization: Bearer ${access}\r\nauthorization: Bearer ${access}\r\nConnection: close\r\n\r\n`,
      `POST /upload/dup3 HTTP/1.1\r\nHost: a.example\r\nAuthorization: Bearer ${access}\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab`,
    ];
    for (const request of requests) expect((await raw(request)).split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(gatehouse.output()).toContain('"reason":"header_repeated"');
    expect(upstream.received.some((r) => r.url.includes("/dup"))).toBe(false);
  });

  test("no token, a malformed one, a forged one and alg none are 401 invalid_token with a Bearer challenge", async () => {
    const access = await token(ORDERS);
    const [header, payload] = access.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ ...decodeJwt(access), scope: "orders:read orders:write" })).toString("base64url");
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${payload}.`;
    for (const bad of [undefined, "not a token", `${header}.${forgedPayload}.${access.split(".")[2]}`, none]) {
      const response = await call("/orders/1", bad === undefined ? {} : { headers: { authorization: `Bearer ${bad}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="gatehouse", error="invalid_token", error_description="[^"]+"$/);
      expect(await response.json()).toMatchObject({ error: "invalid_token" });
    }
  });

  test("a token for another API is refused (audience)", async () => {
    const response = await call("/orders/1", { token: await token(SHORT) });
    expect(response.status).toBe(401);
    expect((await response.json()).error_description).toMatch(/not meant for this API/);
  });

  test("an expired token is refused", async () => {
    const access = await token(SHORT);
    expect((await call("/short/a", { token: access })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3100));
    const response = await call("/short/a", { token: access });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  test("scopes are enforced per method: 403 insufficient_scope names the missing scope", async () => {
    const access = await token(ORDERS);
    const response = await call("/orders", { method: "POST", token: access, body: "{}" });
    expect(response.status).toBe(403);
    expect(response.headers.get("www-authenticate")).toMatch(/error="insufficient_scope", error_description="[^"]+", scope="orders:write"/);
    expect(await response.json()).toMatchObject({ error: "insufficient_scope", scope: "orders:write" });
  });

  test("a JWT revoked at the authorization server is refused at once", async () => {
    const access = await token(ORDERS);
    expect((await call("/orders/r", { token: access })).status).toBe(200);
    await fetch(`${gatehouse.issuer}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
      body: new URLSearchParams({ token: access }),
    });
    const response = await call("/orders/r", { token: access });
    expect(response.status).toBe(401);
    expect((await response.json()).error_description).toMatch(/revoked/);
  });

  test("an opaque token is introspected; once revoked it is refused at once, though its introspection is cached", async () => {
    const access = await token(OPAQUE);
    expect(access.split(".")).toHaveLength(1);
    expect((await call("/opaque/x", { token: access })).status).toBe(200);
    expect(receivedFor("/opaque/x")!.headers["x-gatehouse-subject"]).toBe(client.id);
    await fetch(`${gatehouse.issuer}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
      body: new URLSearchParams({ token: access }),
    });
    // Well within the cache's TTL: the revocation list, not the cache's expiry, refuses it.
    const response = await call("/opaque/x", { token: access });
    expect(response.status).toBe(401);
    expect((await response.json()).error_description).toMatch(/revoked/);
  });

  test("traversal and encoded slashes never reach a protected route unchecked", async () => {
    const before = upstream.received.length;
    const climbed = await call("/public/%2e%2e/orders/secret");
    expect(climbed.status).toBe(401);
    const encoded = await call("/public/..%2forders/secret");
    expect(encoded.status).toBe(400);
    const raw = await new Promise<number>((resolve) => {
      http.get({ host: "127.0.0.1", port: Number(gatehouse.env.GATEWAY_PORT), path: "/public/../orders/secret" }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
    });
    expect(raw).toBe(401);
    expect(upstream.received.length).toBe(before);
  });

  test("a public route needs no token, and still strips spoofed identity headers", async () => {
    const response = await call("/public/status", { headers: { "x-gatehouse-subject": "admin" } });
    expect(response.status).toBe(200);
    const seen = receivedFor("/v1/status")!;
    expect(seen.headers["x-gatehouse-subject"]).toBeUndefined();
  });

  test("no route is 404, an unreachable upstream 502, a slow one 504, a large body 413", async () => {
    const access = await token(ORDERS);
    expect((await call("/nowhere", { token: access })).status).toBe(404);
    const down = await call("/down/x", { token: access });
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({ error: "bad_gateway" });
    const started = Date.now();
    const slow = await call("/slow/x", { token: access });
    expect(slow.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(2500);
    const before = upstream.received.length;
    const tooLarge = await call("/upload", { method: "POST", token: access, body: "x".repeat(5000) });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: "payload_too_large" });
    expect(upstream.received.length).toBe(before);
    expect((await call("/upload", { method: "POST", token: access, body: "x".repeat(900) })).status).toBe(200);
  });

  test("a WebSocket upgrade goes through the same checks", async () => {
    const access = await token(ORDERS);
    const open = (headers: Record<string, string>) =>
      new Promise<{ status?: number; first?: string }>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/socket`, { headers });
        socket.on("message", (data) => {
          resolve({ first: String(data) });
          socket.close();
        });
        socket.on("unexpected-response", (_req, res) => resolve({ status: res.statusCode }));
        socket.on("error", () => resolve({}));
      });
    expect(await open({})).toEqual({ status: 401 });
    expect(JSON.parse((await open({ authorization: `Bearer ${access}` })).first!)).toEqual({ hello: client.id });
  });

  test("outbound OAuth: one IdP token for 50 concurrent requests, injected; subscription key removed", async () => {
    const access = await token(BILLING);
    idp.state.calls = 0;
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(`/billing/item-${i}`, { token: access, headers: { "ocp-apim-subscription-key": "sub-key" } })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(idp.state.calls).toBe(1);
    const seen = receivedFor("/billing/item-7")!;
    expect(seen.headers.authorization).toBe("Bearer idp-token-1");
    expect(seen.headers["ocp-apim-subscription-key"]).toBeUndefined();
  });

  test("outbound OAuth: an unreachable identity provider is 502 with a JSON error, quickly", async () => {
    const started = Date.now();
    const response = await call("/idp-down/x", { token: await token("https://unreachable-idp.example.com") });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: "bad_gateway", error_description: expect.stringMatching(/identity provider/) });
    expect(Date.now() - started).toBeLessThan(6000);
  });

  test("forwardToken signed: the backend gets a short-lived token signed with Gatehouse's key, not the client's", async () => {
    const access = await token(SIGNED);
    expect((await call("/signed/me", { token: access })).status).toBe(200);
    const seen = receivedFor("/signed/me")!;
    expect(seen.headers.authorization).toBeUndefined();
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(String(seen.headers["x-gatehouse-token"]), jwks, {
      issuer: gatehouse.issuer, audience: SIGNED, typ: "gatehouse-identity+jwt",
    });
    expect(protectedHeader.alg).toBe("ES256");
    expect(payload).toMatchObject({ sub: client.id, client_id: client.id, scope: "orders:read" });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  });

  test("forwardToken original: the backend gets the client's own token", async () => {
    const access = await token(ORIGINAL);
    expect((await call("/original/me", { token: access })).status).toBe(200);
    expect(receivedFor("/original/me")!.headers.authorization).toBe(`Bearer ${access}`);
  });

  test("a route added while running is live within a second", async () => {
    const access = await token(ORDERS);
    expect((await call("/late/x", { token: access })).status).toBe(404);
    await withServices(db, (services) => services.routes.apply(ORDERS, { path_prefix: "/late", upstream: upstream.url }));
    const deadline = Date.now() + 1000;
    let status = 404;
    while (Date.now() < deadline && status === 404) {
      status = (await call("/late/x", { token: access })).status;
      if (status === 404) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });

  test("no token or secret appears in the logs", () => {
    expect(gatehouse.output()).not.toContain(client.secret);
    expect(gatehouse.output()).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\./);
    expect(gatehouse.output()).not.toContain("billing-secret");
  });
});
