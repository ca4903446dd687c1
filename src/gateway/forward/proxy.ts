// The one place http-proxy is configured. Each forwarding attempt gets its own proxy instance so
// its events (proxyReq, proxyRes, proxyReqWs) belong to that attempt alone.
import type http from "node:http";
import type https from "node:https";
import httpProxy from "http-proxy";

/** An upstream origin, parsed once, with its shared keep-alive agent. */
export interface Upstream {
  origin: string;
  target: { protocol: string; host: string; hostname: string; port: number };
  /** The Host header the upstream receives (its own host: virtual hosts and certificates match). */
  host: string;
  agent: http.Agent | https.Agent;
}

export interface AttemptOptions {
  upstream: Upstream;
  /** Idle time on the upstream socket (no bytes either way) before giving up. */
  idleTimeoutMs?: number;
  /** The stream the upstream request body is read from, instead of the client request. */
  body?: NodeJS.ReadableStream;
  websocket?: boolean;
}

/**
 * The request line is taken verbatim from req.url (toProxy), which the caller has set to the
 * target path; http-proxy's urlJoin still rewrites the path part (see ForwardTarget.path), never the query.
 * Headers are taken from req.headers as the caller prepared them: no xfwd, no changeOrigin.
 */
export function createProxy(options: AttemptOptions): httpProxy {
  const proxy = httpProxy.createProxyServer({
    target: options.upstream.target,
    // A WebSocket takes its connection over for good; only plain requests go back to the pool.
    agent: options.websocket ? false : options.upstream.agent,
    toProxy: true,
    prependPath: false,
    xfwd: false,
    changeOrigin: false,
    selfHandleResponse: true,
    proxyTimeout: options.idleTimeoutMs,
    buffer: options.body as never,
  });
  dropDeleteLengthPass(proxy);
  return proxy;
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
