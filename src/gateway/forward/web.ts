// One HTTP request forwarded to its upstream, streaming both ways. Until the upstream's response
// begins, every failure rejects with a GatewayError for the pipeline to render; after that the
// client connection is cut, since a status line has already gone out.
//
// The steps, in order (each a method of WebForwarding below):
//   refuseUnreadBody   a declared body over the route's limit, or a form the guard refuses at once
//   watchClient        the client's response finishing or its connection closing settles the request
//   checkBody          a chunked body counted against the limit, a form body guarded, as they stream
//   attempt            the upstream request (headers rebuilt, connect timer), one Attempt per try
//   relay              the upstream's response, its headers cleaned and decorated, streamed back
//   retryUnauthorized  outbound OAuth: a 401 held while fresh credentials are fetched, then one retry
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Transform } from "node:stream";
import { BadGateway, GatewayTimeout, PayloadTooLarge } from "../errors.ts";
import { log } from "../../shared/logger.ts";
import { BodyLimit } from "./body-limit.ts";
import { formGuard } from "./form-guard.ts";
import { arrivalOf, type Arrival } from "./forwarded.ts";
import type { ForwardTarget } from "./forwarder.ts";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "./headers.ts";
import type { Proxy, Upstream, WebHandlers } from "./proxy.ts";

/** Methods whose request may be sent twice; only those without a body are retried. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "DELETE"]);

const ignore = (): void => undefined;

/**
 * Whether a request can wait for a free pooled connection (a per-origin or total limit); without
 * one, a request either reuses an idle socket at once or opens a new one.
 */
function mayQueue(agent: Upstream["agent"]): boolean {
  return agent.maxSockets !== Infinity || agent.maxTotalSockets !== Infinity;
}

export function forwardWeb(proxy: Proxy, req: IncomingMessage, res: ServerResponse, target: ForwardTarget, upstream: Upstream, trustedHops: number): Promise<void> {
  return new WebForwarding(proxy, req, res, target, upstream, trustedHops).start();
}

class WebForwarding {
  readonly proxy: Proxy;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly target: ForwardTarget;
  readonly upstream: Upstream;
  /** The client's headers, as received: every attempt builds the upstream's from them. */
  readonly incoming: IncomingHttpHeaders;
  readonly arrival: Arrival;
  settled = false;
  resolve: () => void = ignore;
  reject: (error: unknown) => void = ignore;
  /** The upstream request in flight. */
  current: ClientRequest | undefined = undefined;
  /** The upstream response being relayed. */
  relayed: IncomingMessage | undefined = undefined;
  /** Covers waiting for a pooled socket and connecting (the idle timeout starts once connected). */
  connectTimer: NodeJS.Timeout | undefined = undefined;
  /** The last of the body's checks, which the upstream request reads from (the client request without any). */
  body: Transform | undefined = undefined;

  constructor(proxy: Proxy, req: IncomingMessage, res: ServerResponse, target: ForwardTarget, upstream: Upstream, trustedHops: number) {
    this.proxy = proxy;
    this.req = req;
    this.res = res;
    this.target = target;
    this.upstream = upstream;
    this.incoming = req.headers;
    this.arrival = arrivalOf(req, trustedHops);
  }

  start(): Promise<void> {
    const { req, target } = this;
    const declaredLength = Number(req.headers["content-length"] ?? 0);
    if (declaredLength > target.maxBodyBytes) return this.refuseUnreadBody(new PayloadTooLarge(target.maxBodyBytes));
    const chunked = req.headers["transfer-encoding"] !== undefined;
    let guard: Transform | undefined;
    try {
      guard = chunked || declaredLength > 0 ? formGuard(req.headers) : undefined;
    } catch (error) {
      return this.refuseUnreadBody(error);
    }
    const retryable = target.retryOnUnauthorized !== undefined && IDEMPOTENT.has(req.method ?? "") && !chunked && declaredLength === 0;
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.watchClient();
      if (chunked) this.checkBody(new BodyLimit(target.maxBodyBytes));
      if (guard) this.checkBody(guard);
      this.attempt(target.setHeaders, retryable);
    });
  }

  /** The body stays unread: the connection closes after the refusal instead of draining it. */
  refuseUnreadBody(error: unknown): Promise<void> {
    this.res.setHeader("connection", "close");
    return Promise.reject(error);
  }

  settle(error?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.connectTimer);
    if (error === undefined) this.resolve();
    else this.reject(error);
  }

  /** Before the response began: reject for the pipeline to render. After: cut the client connection. */
  fail(error: unknown): void {
    if (this.settled) return;
    this.current?.destroy();
    if (!this.res.headersSent) {
      this.settle(error);
      return;
    }
    this.target.decorator?.reset?.();
    log.warn("upstream failed mid-response", { upstream: this.upstream.origin, error: error instanceof Error ? error.message : String(error) });
    this.res.destroy();
    this.settle();
  }

  /** A ServerResponse closes after it finishes, or when its connection goes first: one listener sees both. */
  watchClient(): void {
    const { res } = this;
    res.once("close", () => {
      if (!res.writableFinished) {
        this.relayed?.destroy();
        this.current?.destroy();
      }
      this.settle();
    });
  }

  /** A body streams through its checks, each able to refuse it before the upstream has it all. */
  checkBody(stage: Transform): void {
    stage.once("error", (error) => {
      if (!this.res.headersSent) this.res.setHeader("connection", "close");
      this.fail(error);
    });
    (this.body ?? this.req).pipe(stage);
    this.body = stage;
  }

  attempt(setHeaders: Record<string, string>, mayRetry: boolean): void {
    const { req, target, upstream } = this;
    req.headers = upstreamRequestHeaders(this.incoming, {
      ...this.arrival,
      upstreamHost: upstream.host,
      upgrade: false,
      removeHeaders: target.removeHeaders,
      setHeaders,
    });
    req.url = target.path;
    const attempt = new Attempt(this, mayRetry);
    try {
      this.proxy.web(req, this.res, { upstream, body: this.body }, attempt, (error) => attempt.unreachable(error));
    } catch (error) {
      attempt.clearTimer();
      this.fail(error);
    }
  }

  relay(proxyRes: IncomingMessage): void {
    if (proxyRes.destroyed) {
      this.fail(new BadGateway("the upstream closed the connection", "upstream_unreachable"));
      return;
    }
    const { res } = this;
    try {
      const headers = downstreamResponseHeaders(proxyRes.headers);
      this.target.decorator?.decorate(headers, false);
      res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
    } catch (error) {
      proxyRes.destroy();
      this.fail(error);
      return;
    }
    this.relayed = proxyRes;
    // Ended with its whole body, or cut short (an error, the upstream connection closing, or
    // destroyed here when the client is gone, by which time web() has settled).
    proxyRes.once("close", () => {
      if (!proxyRes.complete || proxyRes.errored) this.fail(proxyRes.errored ?? new BadGateway("the upstream closed the connection", "upstream_unreachable"));
    });
    // Node does not emit errors on a ServerResponse in use; this keeps pipe() from rethrowing one if it did.
    res.on("error", ignore);
    proxyRes.pipe(res);
  }

  async retryUnauthorized(proxyRes: IncomingMessage, attempt: Attempt): Promise<void> {
    // Hold the 401 (unread) in case there is nothing to retry with. Its socket's idle timeout may pass
    // meanwhile: the attempt, superseded while it waits, ignores it.
    proxyRes.pause();
    let fresh: Record<string, string> | undefined;
    try {
      fresh = await this.target.retryOnUnauthorized!();
    } catch (error) {
      proxyRes.destroy();
      this.fail(error);
      return;
    }
    if (this.settled) {
      proxyRes.destroy();
      return;
    }
    if (!fresh) {
      // Relayed after all: the attempt's idle timeout counts again for the rest of the 401.
      attempt.superseded = false;
      this.relay(proxyRes);
      return;
    }
    // Read the rejected response to its end so its connection returns to the pool.
    proxyRes.resume();
    this.attempt({ ...this.target.setHeaders, ...fresh }, false);
  }
}

/** One try at the upstream: its timer and http-proxy's events for it (a later try replaces them). */
class Attempt implements WebHandlers {
  readonly forwarding: WebForwarding;
  readonly mayRetry: boolean;
  timer: NodeJS.Timeout | undefined = undefined;
  /** A retry took over: this try's late events are ignored. */
  superseded = false;

  constructor(forwarding: WebForwarding, mayRetry: boolean) {
    this.forwarding = forwarding;
    this.mayRetry = mayRetry;
    if (mayQueue(forwarding.upstream.agent)) this.armTimer();
  }

  armTimer(): void {
    const forwarding = this.forwarding;
    this.timer = setTimeout(() => forwarding.fail(new GatewayTimeout()), forwarding.target.timeoutMs);
    forwarding.connectTimer = this.timer;
  }

  clearTimer(): void {
    clearTimeout(this.timer);
  }

  proxyReq(proxyReq: ClientRequest): void {
    const forwarding = this.forwarding;
    if (forwarding.settled) {
      proxyReq.destroy();
      return;
    }
    forwarding.current = proxyReq;
    proxyReq.on("timeout", () => {
      if (!this.superseded) forwarding.fail(new GatewayTimeout());
    });
    // The connect timer is armed only while connecting, never for an idle pooled socket that is reused.
    const socket = proxyReq.socket;
    if (socket?.connecting) {
      if (this.timer === undefined) this.armTimer();
      socket.once("connect", () => this.clearTimer());
    } else this.clearTimer();
  }

  proxyRes(proxyRes: IncomingMessage): void {
    const forwarding = this.forwarding;
    this.clearTimer();
    // Its errors are seen by relay() when relayed, or as proxyRes.destroyed when a held 401 is.
    proxyRes.on("error", ignore);
    if (forwarding.settled) {
      proxyRes.destroy();
      return;
    }
    if (this.mayRetry && proxyRes.statusCode === 401 && forwarding.current) {
      this.superseded = true;
      void forwarding.retryUnauthorized(proxyRes, this);
    } else forwarding.relay(proxyRes);
  }

  /** http-proxy could not reach the upstream. */
  unreachable(error: Error): void {
    this.clearTimer();
    if (this.superseded) return;
    log.warn("upstream connection failed", { upstream: this.forwarding.upstream.origin, code: (error as NodeJS.ErrnoException).code ?? error.name });
    this.forwarding.fail(new BadGateway("upstream unreachable", "upstream_unreachable"));
  }
}
