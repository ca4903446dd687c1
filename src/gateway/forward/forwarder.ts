// The pipeline's last step: hands a request (or a WebSocket upgrade) to its upstream over a
// keep-alive connection shared per origin. The only part of Gatehouse that talks to upstreams.
import http from "node:http";
import https from "node:https";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Proxy, type Upstream, type UpstreamOrigin } from "./proxy.ts";
import { forwardWeb } from "./web.ts";
import { forwardWebSocket } from "./websocket.ts";

export { writeSocketError, errorBody } from "./socket-error.ts";

/** Adds headers to the response as it goes out (the route's policies: CORS, RateLimit). */
export interface ResponseDecorator {
  /** @param own true for the gateway's own refusal, false for the upstream's response */
  decorate(headers: IncomingHttpHeaders | OutgoingHttpHeaders, own: boolean): void;
  /** The upstream failed after the response began: the client's connection is being cut. */
  reset?(): void;
}

export interface ForwardTarget {
  /** Scheme, host and port of the upstream, e.g. "http://127.0.0.1:4000". */
  origin: string;
  /**
   * Path and "?query" requested upstream. The query is sent verbatim; in the path, http-proxy
   * collapses runs of "/" and turns a first "http:/" or "https:/" into "http://" or "https://".
   */
  path: string;
  /** Limit for connecting, and for silence on the upstream connection (nothing sent or received) once connected. */
  timeoutMs: number;
  maxBodyBytes: number;
  /** Added to (or replacing) the client's headers; names are case-insensitive. */
  setHeaders: Record<string, string>;
  /** Client headers not to forward, by headerKey() (header-names.ts): every spelling of each is dropped. */
  removeHeaders: ReadonlySet<string>;
  /**
   * Outbound OAuth: called once when the upstream answers 401 to a GET, HEAD, OPTIONS or DELETE
   * without a body; returns headers to send the request again with, or undefined to pass the 401 on.
   */
  retryOnUnauthorized?: () => Promise<Record<string, string> | undefined>;
  /** Called with the upstream's response headers before they are written (not for a WebSocket's 101). */
  decorator?: ResponseDecorator;
}

export interface ForwarderOptions {
  /** Connections per upstream origin and idle timeout, i.e. per pool (default: unlimited). */
  maxSockets?: number;
  /**
   * Reverse proxies in front of the gateway whose X-Forwarded-For entries, X-Forwarded-Proto and
   * X-Forwarded-Host are trusted (TRUST_PROXY); default 0: the gateway is the edge (forwarded.ts).
   */
  trustedHops?: number;
}

export class Forwarder {
  readonly #options: ForwarderOptions;
  /** Origins parsed, by origin. */
  readonly #origins = new Map<string, UpstreamOrigin>();
  /** Connection pools, by idle timeout and origin. */
  readonly #upstreams = new Map<string, Upstream>();
  readonly #tunnels = new Set<Duplex>();
  readonly #proxy = new Proxy();

  constructor(options: ForwarderOptions = {}) {
    this.#options = options;
  }

  /**
   * Streams the request to target and the response back; resolves once the response is sent.
   * Rejects with a GatewayError (PayloadTooLarge, BadGateway, GatewayTimeout) when it fails before
   * any response was written, for the caller to render. Rewrites req.url and req.headers.
   */
  web(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<void> {
    try {
      return forwardWeb(this.#proxy, req, res, target, this.#upstream(target.origin, target.timeoutMs), this.#options.trustedHops ?? 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Forwards a WebSocket upgrade; resolves once the handshake is settled, to the status the client got
   * (101 for a tunnel). Failures are answered on the socket itself (502, or 504 when the upstream does
   * not complete the handshake in time).
   */
  async ws(req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget): Promise<number> {
    // A WebSocket has its own connection (http-proxy's agent: false): no pool, whatever its timeout.
    return forwardWebSocket(this.#proxy, req, socket, head, target, this.#origin(target.origin), this.#options.trustedHops ?? 0, (client, upstream) => {
      for (const end of [client, upstream]) {
        this.#tunnels.add(end);
        end.once("close", () => this.#tunnels.delete(end));
      }
    });
  }

  /** Upstream connection pools in use: one per origin and idle timeout of the plain requests forwarded. */
  get pools(): number {
    return this.#upstreams.size;
  }

  /** Closes pooled upstream connections and open WebSocket tunnels. */
  close(): void {
    for (const upstream of this.#upstreams.values()) upstream.agent.destroy();
    this.#upstreams.clear();
    for (const socket of this.#tunnels) socket.destroy();
    this.#tunnels.clear();
  }

  /** One pool per origin and idle timeout: the timeout is the pool's sockets' own, set once when each connects. */
  #upstream(origin: string, idleTimeoutMs: number): Upstream {
    const key = `${idleTimeoutMs} ${origin}`;
    let upstream = this.#upstreams.get(key);
    if (!upstream) {
      const parsed = this.#origin(origin);
      const agentOptions = { keepAlive: true, maxSockets: this.#options.maxSockets, timeout: idleTimeoutMs };
      upstream = { ...parsed, agent: parsed.target.protocol === "https:" ? new UpstreamHttpsAgent(agentOptions) : new UpstreamHttpAgent(agentOptions) };
      this.#upstreams.set(key, upstream);
    }
    return upstream;
  }

  #origin(origin: string): UpstreamOrigin {
    let parsed = this.#origins.get(origin);
    if (!parsed) {
      parsed = parseOrigin(origin);
      this.#origins.set(origin, parsed);
    }
    return parsed;
  }
}

/**
 * An agent whose `timeout` is each socket's idle timeout (no bytes either way) for every request: a request
 * in flight gets a "timeout" event (504), a pooled socket is closed. Set once per connection rather than per
 * request. Node lowers a pooled socket's timeout to the upstream's Keep-Alive hint (timeout=5 from Node and
 * Apache: 4 s) and, for a request without a timeout of its own, keeps it when the socket is reused; so the
 * agent's own is put back on reuse (Agent#reuseSocket, which exists to be overridden).
 */
// A mixin: TypeScript requires its base constructor to take any[] (TS2545).
function withIdleTimeoutOnReuse<T extends new (...args: any[]) => http.Agent>(Base: T) {
  return class extends Base {
    override reuseSocket(socket: Duplex, request: ClientRequest): void {
      super.reuseSocket(socket, request);
      // Agent#options holds the options it was made with (not in @types/node).
      const timeoutMs = (this as unknown as { options: { timeout?: number } }).options.timeout ?? 0;
      if ((socket as Socket).timeout !== timeoutMs) (socket as Socket).setTimeout(timeoutMs);
    }
  };
}

const UpstreamHttpAgent = withIdleTimeoutOnReuse(http.Agent);
const UpstreamHttpsAgent = withIdleTimeoutOnReuse(https.Agent);

/** @throws Error when the origin is not http or https */
function parseOrigin(origin: string): UpstreamOrigin {
  const url = new URL(origin);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`upstream origin must be http or https: ${url.origin}`);
  const secure = url.protocol === "https:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return {
    origin: url.origin,
    target: { protocol: url.protocol, host: hostname, hostname, port: Number(url.port) || (secure ? 443 : 80) },
    host: url.host,
  };
}
