// Real servers for forwarding tests: an upstream that records what reached it, a minimal gateway
// that hands every request to a Forwarder and renders its errors, and a plain HTTP client.
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { GatewayError } from "../../../src/gateway/errors.ts";
import type { Forwarder, ForwardTarget } from "../../../src/gateway/forward/forwarder.ts";

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The whole body arrived (false for a request the gateway aborted). */
  complete: boolean;
  /** The upstream's side of the request closed (finished or aborted). */
  closed: boolean;
}

export interface TestUpstream {
  origin: string;
  received: Received[];
  /** TCP connections accepted so far. */
  connections: () => number;
  /** Emits "data" with the path of a request when its first body bytes arrive. */
  events: EventEmitter;
  close: () => Promise<void>;
}

type Route = (req: http.IncomingMessage, res: http.ServerResponse, received: Received) => void;

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** Answers each request with the route for its path (default: 200 "ok" once the body is in). */
export async function startUpstream(routes: Record<string, Route> = {}): Promise<TestUpstream> {
  const received: Received[] = [];
  const events = new EventEmitter();
  const sockets = new Set<Duplex>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const record: Received = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), complete: false, closed: false };
    received.push(record);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      if (chunks.length === 0) events.emit("data", new URL(req.url!, "http://x").pathname);
      chunks.push(chunk);
    });
    req.on("end", () => {
      record.body = Buffer.concat(chunks);
      record.complete = true;
    });
    req.on("close", () => {
      record.closed = true;
      if (!record.complete) record.body = Buffer.concat(chunks);
    });
    const route = routes[new URL(req.url!, "http://x").pathname];
    if (route) route(req, res, record);
    else req.on("end", () => res.end("ok"));
  });
  server.on("connection", (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), complete: true, closed: false });
    sockets.add(socket);
    wss.handleUpgrade(req, socket, head, (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
  });

  const port = await listen(server);
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    connections: () => connections,
    events,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

export interface Outcome {
  /** How forwarder.web() settled, for each request in order. */
  settled: unknown[];
}

export interface TestGateway extends Outcome {
  port: number;
  close: () => Promise<void>;
}

/** Forwards everything to target(req); renders a rejected GatewayError as the pipeline would. */
export async function startGateway(forwarder: Forwarder, target: (req: http.IncomingMessage) => ForwardTarget): Promise<TestGateway> {
  const settled: Outcome["settled"] = [];
  const sockets = new Set<Duplex>();
  const server = http.createServer((req, res) => {
    forwarder.web(req, res, target(req)).then(
      () => settled.push("resolved"),
      (error: unknown) => {
        settled.push(error);
        const status = error instanceof GatewayError ? error.status : 500;
        const body = error instanceof GatewayError ? { error: error.code, error_description: error.message } : { error: "server_error" };
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      },
    );
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req, socket, head) => {
    sockets.add(socket);
    void forwarder.ws(req, socket, head, target(req));
  });
  const port = await listen(server);
  return {
    port,
    settled,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function target(origin: string, path: string, overrides: Partial<ForwardTarget> = {}): ForwardTarget {
  return { origin, path, timeoutMs: 5000, maxBodyBytes: 10 * 1024 * 1024, setHeaders: {}, removeHeaders: new Set(), ...overrides };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a fresh connection; body as given (a string or Buffer sets Content-Length). */
export function send(port: number, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: options.method ?? "GET", path: options.path ?? "/", headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

export function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>;
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}
