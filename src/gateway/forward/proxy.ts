// The one place http-proxy is configured. One proxy instance serves every request of a Forwarder;
// what differs per request (upstream, agent, timeout, body) is passed to each web()/ws() call, and
// its events (proxyReq, proxyRes, proxyReqWs) reach the request's own handlers through a WeakMap
// keyed by the client request.
import type http from "node:http";
import type https from "node:https";
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import httpProxy from "http-proxy";

/** An upstream origin, parsed once. */
export interface UpstreamOrigin {
  origin: string;
  target: { protocol: string; host: string; hostname: string; port: number };
  /** The Host header the upstream receives (its own host: virtual hosts and certificates match). */
  host: string;
}

/** An upstream origin with its shared keep-alive agent (one per idle timeout): what plain requests use. */
export interface Upstream extends UpstreamOrigin {
  agent: http.Agent | https.Agent;
}

export interface WebOptions {
  /** The upstream, whose agent's sockets time out when idle (no bytes either way) in flight. */
  upstream: Upstream;
  /** The stream the upstream request body is read from, instead of the client request. */
  body?: NodeJS.ReadableStream;
}

/** One forwarding attempt's listeners; a later attempt for the same request replaces them. */
export interface WebHandlers {
  proxyReq(proxyReq: ClientRequest): void;
  proxyRes(proxyRes: IncomingMessage): void;
}

type ProxyCallback = (error: Error) => void;

const WEB = Symbol("gatehouse.proxy.web");
const WS = Symbol("gatehouse.proxy.ws");
/** A client request with the handlers of its forwarding attempt (a retry replaces them). */
type HandledRequest = IncomingMessage & { [WEB]?: WebHandlers; [WS]?: (proxyReq: ClientRequest) => void };

/**
 * The request line is taken verbatim from req.url (toProxy), which the caller has set to the
 * target path; http-proxy's urlJoin still rewrites the path part (see ForwardTarget.path), never the query.
 * Headers are taken from req.headers as the caller prepared them: no xfwd, no changeOrigin.
 */
export class Proxy {
  readonly #proxy: httpProxy;

  constructor() {
    this.#proxy = httpProxy.createProxyServer({
      toProxy: true,
      prependPath: false,
      xfwd: false,
      changeOrigin: false,
      selfHandleResponse: true,
    });
    dropDeleteLengthPass(this.#proxy);
    this.#proxy.on("proxyReq", (proxyReq, req) => (req as HandledRequest)[WEB]?.proxyReq(proxyReq));
    this.#proxy.on("proxyRes", (proxyRes, req) => (req as HandledRequest)[WEB]?.proxyRes(proxyRes));
    this.#proxy.on("proxyReqWs", (proxyReq, req) => (req as HandledRequest)[WS]?.(proxyReq));
  }

  web(req: IncomingMessage, res: ServerResponse, options: WebOptions, handlers: WebHandlers, callback: ProxyCallback): void {
    (req as HandledRequest)[WEB] = handlers;
    this.#proxy.web(
      req,
      res,
      {
        target: options.upstream.target,
        agent: options.upstream.agent,
        buffer: options.body as never,
      },
      callback,
    );
  }

  /** These listeners run before http-proxy's own, which write the upstream's answer to the client socket. */
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, upstream: UpstreamOrigin, onProxyReq: (proxyReq: ClientRequest) => void, callback: ProxyCallback): void {
    (req as HandledRequest)[WS] = onProxyReq;
    // A WebSocket takes its connection over for good; only plain requests go back to the pool.
    this.#proxy.ws(req, socket, head, { target: upstream.target, agent: false }, callback);
  }
}

/**
 * http-proxy sets "Content-Length: 0" on DELETE and OPTIONS requests without one, and deletes
 * Transfer-Encoding: a chunked DELETE body would then reach the upstream after a declared empty
 * body, where it reads as the next request on the connection. Node frames these requests correctly
 * on its own.
 */
function dropDeleteLengthPass(proxy: httpProxy): void {
  const internals = proxy as unknown as { webPasses: Array<{ name: string }> };
  internals.webPasses = internals.webPasses.filter((pass) => pass.name !== "deleteLength");
}
