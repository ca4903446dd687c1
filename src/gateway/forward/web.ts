// One HTTP request forwarded to its upstream, streaming both ways. Until the upstream's response
// begins, every failure rejects with a GatewayError for the pipeline to render; after that the
// client connection is cut, since a status line has already gone out.
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import type { Transform } from "node:stream";
import { BadGateway, GatewayTimeout, PayloadTooLarge } from "../errors.ts";
import { log } from "../../shared/logger.ts";
import { BodyLimit } from "./body-limit.ts";
import { formGuard } from "./form-guard.ts";
import { arrivalOf } from "./forwarded.ts";
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
  const declaredLength = Number(req.headers["content-length"] ?? 0);
  if (declaredLength > target.maxBodyBytes) {
    // The body stays unread: close the connection after the 413 instead of draining it.
    res.setHeader("connection", "close");
    return Promise.reject(new PayloadTooLarge(target.maxBodyBytes));
  }
  const chunked = req.headers["transfer-encoding"] !== undefined;
  let guard: Transform | undefined;
  try {
    guard = chunked || declaredLength > 0 ? formGuard(req.headers) : undefined;
  } catch (error) {
    res.setHeader("connection", "close");
    return Promise.reject(error);
  }
  const retryable = target.retryOnUnauthorized !== undefined && IDEMPOTENT.has(req.method ?? "") && !chunked && declaredLength === 0;
  const incoming = req.headers;
  const arrival = arrivalOf(req, trustedHops);

  return new Promise((resolve, reject) => {
    let settled = false;
    let current: ClientRequest | undefined;
    let relayed: IncomingMessage | undefined;
    // The idle timeout only starts once connected: this one covers waiting for a pooled socket and
    // connecting. It is not armed for an idle pooled socket that is reused.
    let connectTimer: NodeJS.Timeout | undefined;

    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      if (error === undefined) resolve();
      else reject(error);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      current?.destroy();
      if (!res.headersSent) {
        settle(error);
        return;
      }
      log.warn("upstream failed mid-response", { upstream: upstream.origin, error: error instanceof Error ? error.message : String(error) });
      res.destroy();
      settle();
    };

    res.once("finish", () => settle());
    res.once("close", () => {
      if (!res.writableFinished) {
        relayed?.destroy();
        current?.destroy();
      }
      settle();
    });

    // A body streams through its checks, each able to refuse it before the upstream has it all.
    let body: Transform | undefined;
    const check = (stage: Transform) => {
      stage.once("error", (error) => {
        if (!res.headersSent) res.setHeader("connection", "close");
        fail(error);
      });
      (body ?? req).pipe(stage);
      body = stage;
    };
    if (chunked) check(new BodyLimit(target.maxBodyBytes));
    if (guard) check(guard);

    const relay = (proxyRes: IncomingMessage) => {
      if (proxyRes.destroyed) {
        fail(new BadGateway("the upstream closed the connection", "upstream_unreachable"));
        return;
      }
      try {
        res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, downstreamResponseHeaders(proxyRes.headers));
      } catch (error) {
        proxyRes.destroy();
        fail(error);
        return;
      }
      relayed = proxyRes;
      // Ended with its whole body, or cut short (an error, the upstream connection closing, or
      // destroyed here when the client is gone, by which time web() has settled).
      proxyRes.once("close", () => {
        if (!proxyRes.complete || proxyRes.errored) fail(proxyRes.errored ?? new BadGateway("the upstream closed the connection", "upstream_unreachable"));
      });
      // Node does not emit errors on a ServerResponse in use; this keeps pipe() from rethrowing one if it did.
      res.on("error", ignore);
      proxyRes.pipe(res);
    };

    const retry = async (proxyRes: IncomingMessage, proxyReq: ClientRequest) => {
      // Hold the 401 (unread, without an idle timeout) in case there is nothing to retry with.
      proxyRes.pause();
      proxyReq.setTimeout(0);
      let fresh: Record<string, string> | undefined;
      try {
        fresh = await target.retryOnUnauthorized!();
      } catch (error) {
        proxyRes.destroy();
        fail(error);
        return;
      }
      if (settled) {
        proxyRes.destroy();
        return;
      }
      if (!fresh) {
        relay(proxyRes);
        return;
      }
      // Read the rejected response to its end so its connection returns to the pool.
      proxyRes.resume();
      attempt({ ...target.setHeaders, ...fresh }, false);
    };

    const attempt = (setHeaders: Record<string, string>, mayRetry: boolean) => {
      req.headers = upstreamRequestHeaders(incoming, {
        ...arrival,
        upstreamHost: upstream.host,
        upgrade: false,
        removeHeaders: target.removeHeaders,
        setHeaders,
      });
      req.url = target.path;

      let timer: NodeJS.Timeout | undefined;
      const armTimer = () => {
        timer = setTimeout(() => fail(new GatewayTimeout()), target.timeoutMs);
        connectTimer = timer;
      };
      if (mayQueue(upstream.agent)) armTimer();
      let superseded = false;

      const handlers: WebHandlers = {
        proxyReq: (proxyReq) => {
          if (settled) {
            proxyReq.destroy();
            return;
          }
          current = proxyReq;
          proxyReq.on("timeout", () => {
            if (!superseded) fail(new GatewayTimeout());
          });
          const socket = proxyReq.socket;
          if (socket?.connecting) {
            if (timer === undefined) armTimer();
            socket.once("connect", () => clearTimeout(timer));
          } else clearTimeout(timer);
        },
        proxyRes: (proxyRes) => {
          clearTimeout(timer);
          // Its errors are seen by relay() when relayed, or as proxyRes.destroyed when a held 401 is.
          proxyRes.on("error", ignore);
          if (settled) {
            proxyRes.destroy();
            return;
          }
          if (mayRetry && proxyRes.statusCode === 401 && current) {
            superseded = true;
            void retry(proxyRes, current);
          } else relay(proxyRes);
        },
      };

      try {
        proxy.web(req, res, { upstream, idleTimeoutMs: target.timeoutMs, body }, handlers, (error) => {
          clearTimeout(timer);
          if (superseded) return;
          log.warn("upstream connection failed", { upstream: upstream.origin, code: (error as NodeJS.ErrnoException).code ?? error.name });
          fail(new BadGateway("upstream unreachable", "upstream_unreachable"));
        });
      } catch (error) {
        clearTimeout(timer);
        fail(error);
      }
    };

    attempt(target.setHeaders, retryable);
  });
}
