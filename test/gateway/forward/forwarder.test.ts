// Forwarding against real upstreams on 127.0.0.1: streaming, headers, keep-alive, limits, upstream
// failures, the outbound OAuth retry, and WebSocket tunnels.
import crypto from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { WebSocket } from "ws";
import { BadGateway, GatewayTimeout, PayloadTooLarge } from "../../../src/gateway/errors.ts";
import { Forwarder, writeSocketError, type ForwardTarget } from "../../../src/gateway/forward/forwarder.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { closedPort, json, send, startGateway, startUpstream, target, type TestGateway, type TestUpstream } from "./servers.ts";

const MB = 1024 * 1024;

beforeAll(() => setLogLevel("silent"));
afterAll(() => setLogLevel("info"));

function bytes(size: number, seed = 1): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) buffer[i] = (i * 31 + seed) & 0xff;
  return buffer;
}

function sha256(data: Buffer): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** Resolves with the event's arguments, or rejects after ms (so a buffering proxy fails fast instead of hanging). */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("Forwarder.web", () => {
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;
  let targetFor: (req: http.IncomingMessage) => ForwardTarget;

  beforeEach(async () => {
    upstream = await startUpstream({
      "/pipe": (req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        req.pipe(res);
      },
      "/download": (_req, res) => {
        const body = bytes(5 * MB, 7);
        res.writeHead(200, { "content-length": body.length });
        res.end(body);
      },
      "/slow": () => undefined,
      // A Keep-Alive hint of 2 s, as Node (5 s) and Apache send one: Node lowers the pooled socket's timeout to it.
      "/hinted": (req, res) => {
        req.resume();
        res.writeHead(200, { "keep-alive": "timeout=2" }).end("hinted");
      },
      "/hinted-late": (req, res) => {
        req.resume();
        setTimeout(() => res.writeHead(200, { "keep-alive": "timeout=2" }).end("late"), 1500);
      },
      "/protected-stall": (req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(401, { "content-length": "10" });
          res.write("den");
        });
      },
      "/protected": (req, res) => {
        req.resume();
        req.on("end", () => {
          if (req.headers.authorization === "Bearer fresh") res.end("welcome");
          else res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end("denied");
        });
      },
      "/hop": (req, res) => {
        req.resume();
        res.writeHead(200, {
          connection: "X-Private",
          "x-private": "1",
          "keep-alive": "timeout=99",
          "proxy-authenticate": "Basic",
          "x-kept": "yes",
          "set-cookie": ["a=1", "b=2"],
        });
        res.end("hop");
      },
      "/drip": (_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(bytes(1000));
      },
      "/cut": (_req, res) => {
        res.writeHead(200, { "content-length": 10_000 });
        res.write(bytes(1000));
        setTimeout(() => res.socket?.destroy(), 50);
      },
    });
    forwarder = new Forwarder();
    targetFor = (req) => target(upstream.origin, req.url!);
    gateway = await startGateway(forwarder, (req) => targetFor(req));
  });

  afterEach(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  test("passes method, path and query verbatim, body and end-to-end headers; Host is the upstream's", async () => {
    const reply = await send(gateway.port, {
      method: "PUT",
      path: "/items/42?b=%20x&a=1&a=2",
      headers: { host: "api.example.test", "content-type": "text/plain", "x-custom": "kept" },
      body: "hello upstream",
    });
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe("ok");
    const [seen] = upstream.received;
    expect(seen.method).toBe("PUT");
    expect(seen.url).toBe("/items/42?b=%20x&a=1&a=2");
    expect(seen.body.toString()).toBe("hello upstream");
    expect(seen.headers["content-type"]).toBe("text/plain");
    expect(seen.headers["x-custom"]).toBe("kept");
    expect(seen.headers.host).toBe(new URL(upstream.origin).host);
    expect(gateway.settled).toEqual(["resolved"]);
  });

  test("hop-by-hop headers stay behind in both directions; the target's removals and additions apply", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { removeHeaders: new Set(["x-subscription-key"]), setHeaders: { "X-Api-Key": "injected", "X-Custom": "replaced" } });
    const reply = await send(gateway.port, {
      path: "/hop",
      headers: {
        connection: "keep-alive, X-Hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic eDp5",
        upgrade: "h2c",
        "x-subscription-key": "for-the-gateway",
        "x-custom": "original",
      },
    });
    const seen = upstream.received[0].headers;
    for (const name of ["x-hop", "te", "proxy-authorization", "upgrade", "x-subscription-key"]) expect(seen[name]).toBeUndefined();
    expect(seen["keep-alive"]).toBeUndefined();
    expect(seen.connection).toBe("keep-alive");
    expect(seen["x-api-key"]).toBe("injected");
    expect(seen["x-custom"]).toBe("replaced");

    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe("hop");
    expect(reply.headers["x-private"]).toBeUndefined();
    expect(reply.headers["proxy-authenticate"]).toBeUndefined();
    expect(reply.headers["keep-alive"]).not.toBe("timeout=99");
    expect(reply.headers["x-kept"]).toBe("yes");
    expect(reply.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
  });

  test("streams both ways: the upstream has the first bytes and the client the first echo before the upload ends (5 MB, intact)", async () => {
    const body = bytes(5 * MB);
    const firstBytes = once(upstream.events, "data");
    const req = http.request({ host: "127.0.0.1", port: gateway.port, method: "POST", path: "/pipe", agent: false });
    const response = once(req, "response") as Promise<[http.IncomingMessage]>;
    req.write(body.subarray(0, MB));
    expect(await within(5000, firstBytes, "upstream receiving the first chunk")).toEqual(["/pipe"]);
    const [res] = await within(5000, response, "the response starting");
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    await within(5000, once(res, "data"), "the first echoed bytes");
    req.end(body.subarray(MB));
    await once(res, "end");
    expect(res.statusCode).toBe(200);
    const echoed = Buffer.concat(chunks);
    expect(echoed.length).toBe(body.length);
    expect(sha256(echoed)).toBe(sha256(body));
    expect(upstream.received[0].headers["transfer-encoding"]).toBe("chunked");
  });

  test("a 5 MB response arrives intact with its Content-Length", async () => {
    const reply = await send(gateway.port, { path: "/download" });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-length"]).toBe(String(5 * MB));
    expect(sha256(reply.body)).toBe(sha256(bytes(5 * MB, 7)));
  });

  test("a chunked DELETE body reaches the upstream as sent (no injected Content-Length: 0)", async () => {
    const reply = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: gateway.port, method: "DELETE", path: "/items/1", headers: { "transfer-encoding": "chunked" }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.write("reason=obsolete");
      req.end();
    });
    expect(reply).toBe(200);
    expect(upstream.received[0].headers["content-length"]).toBeUndefined();
    expect(upstream.received[0].body.toString()).toBe("reason=obsolete");
    expect(upstream.received).toHaveLength(1);
  });

  test("keeps upstream connections alive: 20 sequential requests use one connection", async () => {
    for (let i = 0; i < 20; i += 1) expect((await send(gateway.port, { path: `/n/${i}` })).status).toBe(200);
    expect(upstream.received).toHaveLength(20);
    expect(upstream.connections()).toBeLessThanOrEqual(2);
    expect(forwarder.pools).toBe(1);
  });

  test("a Content-Length over the limit is refused with 413 before the upstream is contacted", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { maxBodyBytes: 1000 });
    const reply = await new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: gateway.port, method: "POST", path: "/upload", headers: { "content-length": 2000 }, agent: false }, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toEqual({ error: "payload_too_large", error_description: "the request body exceeds 1000 bytes" });
    expect(reply.connection).toBe("close");
    expect(gateway.settled[0]).toBeInstanceOf(PayloadTooLarge);
    expect(upstream.connections()).toBe(0);
    expect(upstream.received).toHaveLength(0);
  });

  test("a chunked body is counted while it streams: over the limit, the upstream request is aborted and the client gets 413", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { maxBodyBytes: 1000 });
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: gateway.port, method: "POST", path: "/upload", agent: false }, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      req.write(bytes(600));
      setTimeout(() => req.write(bytes(600)), 50);
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ error: "payload_too_large" });
    await within(2000, waitFor(() => upstream.received[0]?.closed === true), "the upstream request closing");
    expect(upstream.received[0].complete).toBe(false);
    expect(upstream.received[0].body.length).toBeLessThanOrEqual(1000);
  });

  test("an unreachable upstream gives 502 with a JSON body", async () => {
    const port = await closedPort();
    targetFor = (req) => target(`http://127.0.0.1:${port}`, req.url!);
    const reply = await send(gateway.port, { path: "/anything" });
    expect(reply.status).toBe(502);
    expect(json(reply)).toEqual({ error: "bad_gateway", error_description: "upstream unreachable" });
    expect(gateway.settled[0]).toBeInstanceOf(BadGateway);
    expect((gateway.settled[0] as BadGateway).reason).toBe("upstream_unreachable");
  });

  test("an upstream that does not answer gives 504 within the timeout, and its request is aborted", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { timeoutMs: 300 });
    const started = Date.now();
    const reply = await send(gateway.port, { path: "/slow" });
    const elapsed = Date.now() - started;
    expect(reply.status).toBe(504);
    expect(json(reply)).toEqual({ error: "gateway_timeout", error_description: "the upstream did not answer in time" });
    expect(gateway.settled[0]).toBeInstanceOf(GatewayTimeout);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1300);
    await within(2000, waitFor(() => upstream.received[0]?.closed === true), "the upstream request closing");
  });

  test("a failure after the response started cuts the client connection; web() still resolves", async () => {
    const outcome = await new Promise<{ status: number; received: number; aborted: boolean }>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port: gateway.port, path: "/cut", agent: false }, (res) => {
        let received = 0;
        res.on("data", (chunk: Buffer) => (received += chunk.length));
        res.on("error", () => undefined);
        res.on("close", () => resolve({ status: res.statusCode!, received, aborted: !res.complete }));
      });
      req.on("error", () => undefined);
    });
    expect(outcome).toEqual({ status: 200, received: 1000, aborted: true });
    await waitFor(() => gateway.settled.length === 1);
    expect(gateway.settled).toEqual(["resolved"]);
  });

  test("a client gone mid-response aborts the upstream request; web() resolves", async () => {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port: gateway.port, path: "/drip", agent: false }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
        res.on("error", () => undefined);
      });
      req.on("error", () => undefined);
    });
    await within(2000, waitFor(() => upstream.received[0]?.closed === true), "the upstream request closing");
    await within(2000, waitFor(() => gateway.settled.length === 1), "web() settling");
    expect(gateway.settled).toEqual(["resolved"]);
  });

  test("a request on a reused keep-alive connection still times out when the upstream does not answer", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { timeoutMs: 300 });
    expect((await send(gateway.port, { path: "/hop" })).status).toBe(200);
    const started = Date.now();
    const reply = await send(gateway.port, { path: "/slow" });
    expect(reply.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1300);
    expect(upstream.connections()).toBe(1);
  });

  test("a reused connection keeps the route's idle timeout, not the upstream's shorter Keep-Alive hint", async () => {
    targetFor = (req) => target(upstream.origin, req.url!, { timeoutMs: 3000 });
    expect((await send(gateway.port, { path: "/hinted" })).status).toBe(200);
    // Node lowered the pooled socket's timeout to the hint less a second (1 s); the answer takes 1.5 s.
    const reply = await send(gateway.port, { path: "/hinted-late" });
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe("late");
    expect(upstream.connections()).toBe(1);
  });

  describe("401 from the upstream with retryOnUnauthorized", () => {
    function withRetry(fresh: Record<string, string> | undefined) {
      const calls: number[] = [];
      targetFor = (req) =>
        target(upstream.origin, req.url!, {
          setHeaders: { authorization: "Bearer stale", "x-identity": "kept" },
          retryOnUnauthorized: async () => {
            calls.push(Date.now());
            return fresh;
          },
        });
      return calls;
    }

    test("a GET is sent once more with the fresh headers", async () => {
      const calls = withRetry({ Authorization: "Bearer fresh" });
      const reply = await send(gateway.port, { path: "/protected?x=1" });
      expect(reply.status).toBe(200);
      expect(reply.body.toString()).toBe("welcome");
      expect(calls).toHaveLength(1);
      expect(upstream.received.map((r) => [r.url, r.headers.authorization, r.headers["x-identity"]])).toEqual([
        ["/protected?x=1", "Bearer stale", "kept"],
        ["/protected?x=1", "Bearer fresh", "kept"],
      ]);
      expect(upstream.received[1].headers["x-forwarded-for"]).toBe("127.0.0.1");
    });

    test("only once: a second 401 is passed on", async () => {
      const calls = withRetry({ authorization: "Bearer also-stale" });
      const reply = await send(gateway.port, { path: "/protected" });
      expect(reply.status).toBe(401);
      expect(reply.body.toString()).toBe("denied");
      expect(calls).toHaveLength(1);
      expect(upstream.received).toHaveLength(2);
    });

    test("nothing to retry with: the held 401 is passed on with its headers and body", async () => {
      const calls = withRetry(undefined);
      const reply = await send(gateway.port, { path: "/protected" });
      expect(reply.status).toBe(401);
      expect(reply.headers["www-authenticate"]).toBe('Bearer error="invalid_token"');
      expect(reply.body.toString()).toBe("denied");
      expect(calls).toHaveLength(1);
      expect(upstream.received).toHaveLength(1);
    });

    test("a refresh slower than the idle timeout: the held 401 is passed on, and its pooled connection still times out for the next request", async () => {
      targetFor = (req) =>
        target(upstream.origin, req.url!, {
          timeoutMs: 300,
          setHeaders: { authorization: "Bearer stale" },
          retryOnUnauthorized: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 600)),
        });
      const reply = await send(gateway.port, { path: "/protected" });
      expect(reply.status).toBe(401);
      expect(reply.body.toString()).toBe("denied");
      const started = Date.now();
      expect((await send(gateway.port, { path: "/slow" })).status).toBe(504);
      expect(Date.now() - started).toBeLessThan(1300);
      expect(upstream.connections()).toBe(1);
    });

    test("nothing to retry with and the held 401 then stalls: the client connection is cut after the idle timeout", async () => {
      targetFor = (req) =>
        target(upstream.origin, req.url!, { timeoutMs: 300, setHeaders: { authorization: "Bearer stale" }, retryOnUnauthorized: async () => undefined });
      const started = Date.now();
      const outcome = await new Promise<{ status: number; aborted: boolean }>((resolve) => {
        const req = http.get({ host: "127.0.0.1", port: gateway.port, path: "/protected-stall", agent: false }, (res) => {
          res.resume();
          res.on("error", () => undefined);
          res.on("close", () => resolve({ status: res.statusCode!, aborted: !res.complete }));
        });
        req.on("error", () => undefined);
      });
      expect(outcome).toEqual({ status: 401, aborted: true });
      expect(Date.now() - started).toBeLessThan(3000);
    });

    test("a failing refresh surfaces its GatewayError", async () => {
      targetFor = (req) =>
        target(upstream.origin, req.url!, {
          setHeaders: { authorization: "Bearer stale" },
          retryOnUnauthorized: async () => {
            throw new BadGateway("could not obtain a token for the upstream from its identity provider", "outbound_token_failed");
          },
        });
      const reply = await send(gateway.port, { path: "/protected" });
      expect(reply.status).toBe(502);
      expect(json(reply)).toMatchObject({ error: "bad_gateway" });
    });

    test("a POST (not idempotent, has a body) is not retried", async () => {
      const calls = withRetry({ authorization: "Bearer fresh" });
      const reply = await send(gateway.port, { method: "POST", path: "/protected", body: "payload" });
      expect(reply.status).toBe(401);
      expect(calls).toHaveLength(0);
      expect(upstream.received).toHaveLength(1);
      expect(upstream.received[0].body.toString()).toBe("payload");
    });
  });
});

describe("Forwarder.ws", () => {
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;
  let targetFor: (req: http.IncomingMessage) => ForwardTarget;

  beforeEach(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder();
    targetFor = (req) => target(upstream.origin, req.url!, { setHeaders: { "x-identity": "alice" }, removeHeaders: new Set(["x-subscription-key"]) });
    gateway = await startGateway(forwarder, (req) => targetFor(req));
  });

  afterEach(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  function unexpectedResponse(client: WebSocket): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      client.on("open", () => reject(new Error("the upgrade should have been refused")));
      client.on("error", () => undefined);
      client.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
    });
  }

  test("a WebSocket is tunnelled to the upstream with the same header treatment", async () => {
    const client = new WebSocket(`ws://127.0.0.1:${gateway.port}/chat?room=1`, { headers: { "x-subscription-key": "secret" } });
    await once(client, "open");
    client.send("hello");
    const [message] = (await once(client, "message")) as [Buffer];
    expect(message.toString()).toBe("hello");
    client.send(bytes(100_000));
    const [large] = (await once(client, "message")) as [Buffer];
    expect(sha256(large)).toBe(sha256(bytes(100_000)));
    client.close();
    await once(client, "close");

    const [seen] = upstream.received;
    expect(seen.url).toBe("/chat?room=1");
    expect(seen.headers).toMatchObject({ "x-identity": "alice", "x-forwarded-for": "127.0.0.1", upgrade: "websocket", host: new URL(upstream.origin).host });
    expect(seen.headers["x-subscription-key"]).toBeUndefined();
    // A WebSocket has its own upstream connection: no connection pool was made for it.
    expect(forwarder.pools).toBe(0);
  });

  test("an unreachable upstream gives 502 with a JSON body on the socket", async () => {
    const port = await closedPort();
    targetFor = (req) => target(`http://127.0.0.1:${port}`, req.url!);
    const refused = await unexpectedResponse(new WebSocket(`ws://127.0.0.1:${gateway.port}/chat`));
    expect(refused.status).toBe(502);
    expect(refused.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(refused.body)).toEqual({ error: "bad_gateway", error_description: "upstream unreachable" });
  });

  test("an upstream refusing the upgrade is answered through, its chunked body intact", async () => {
    const refusing = http.createServer((_req, res) => {
      res.writeHead(403, { "content-type": "text/plain" });
      res.write("no ");
      res.end("sockets");
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    try {
      targetFor = (req) => target(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`, req.url!);
      const refused = await unexpectedResponse(new WebSocket(`ws://127.0.0.1:${gateway.port}/chat`));
      expect(refused.status).toBe(403);
      expect(refused.headers["transfer-encoding"]).toBeUndefined();
      expect(refused.body).toBe("no sockets");
    } finally {
      refusing.closeAllConnections();
      refusing.close();
    }
  });

  test("a handshake the upstream never completes gives 504 within the timeout", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      targetFor = (req) => target(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, req.url!, { timeoutMs: 300 });
      const started = Date.now();
      const refused = await unexpectedResponse(new WebSocket(`ws://127.0.0.1:${gateway.port}/chat`));
      expect(refused.status).toBe(504);
      expect(JSON.parse(refused.body)).toEqual({ error: "gateway_timeout", error_description: "the upstream did not answer in time" });
      expect(Date.now() - started).toBeLessThan(1300);
    } finally {
      silent.close();
    }
  });

  test("writeSocketError refuses an upgrade with the given status, headers and JSON body", async () => {
    const server = http.createServer();
    server.on("upgrade", (_req, socket) => writeSocketError(socket, 401, { "WWW-Authenticate": 'Bearer realm="gatehouse"' }, { error: "invalid_token", error_description: "expired" }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const refused = await unexpectedResponse(new WebSocket(`ws://127.0.0.1:${port}/chat`));
      expect(refused.status).toBe(401);
      expect(refused.headers["www-authenticate"]).toBe('Bearer realm="gatehouse"');
      expect(refused.headers["cache-control"]).toBe("no-store");
      expect(JSON.parse(refused.body)).toEqual({ error: "invalid_token", error_description: "expired" });
    } finally {
      server.close();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
