// The gateway's operations: each request's id, its access log line and its metrics, recorded when its
// response has ended (app.ts calls start() first thing for every request). Everything here is on the
// path of every proxied request, so it costs one listener and a few field writes per request; the
// line and the metric cells are only touched at the end.
import type { IncomingMessage, ServerResponse } from "node:http";
import { gatewayMetrics, upstreamErrorKind } from "../shared/metrics.ts";
import { logsAt } from "../shared/logger.ts";
import { accessLog } from "./access-log.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id.ts";
import { GatewayContext } from "../gateway/pipeline.ts";

export interface GatewayOperations {
  /**
   * The request's context, with its id (X-Request-Id when well formed, else a new one) already set on the
   * response; its access log line and metrics are written when the response closes.
   */
  start(req: IncomingMessage, res: ServerResponse): GatewayContext;
  /** A WebSocket upgrade's context, with its id; call upgraded() once its handshake is settled. */
  startUpgrade(req: IncomingMessage): GatewayContext;
  /** Records an upgrade whose handshake ended with `status` (101 for a tunnel). */
  upgraded(gw: GatewayContext, req: IncomingMessage, status: number): void;
}

type Write = (gw: GatewayContext, req: IncomingMessage, status: number, aborted: boolean, seconds: number) => void;

/** Records one finished request: metrics (when on), then the access log line (when on). */
function finish(gw: GatewayContext, req: IncomingMessage, status: number, aborted: boolean, write: Write | undefined): void {
  const seconds = (performance.now() - gw.startedAt) / 1000;
  const metrics = gatewayMetrics;
  if (metrics.enabled) {
    const compiled = gw.compiled;
    const route = metrics.route(compiled?.api.identifier, compiled?.route.id);
    route.request(req.method ?? "", status, seconds);
    if (gw.upstreamSeconds !== undefined) route.upstream(gw.upstreamSeconds);
    if (!gw.probe) metrics.decision(gw.reason ?? "allowed");
    const kind = gw.reason === undefined ? (gw.upstreamReset ? "reset" : undefined) : upstreamErrorKind(gw.reason);
    if (kind) route.upstreamError(kind);
  }
  // Successful probes are counted, not logged.
  if (write && !(gw.probe && status < 400)) write(gw, req, status, aborted, seconds);
}

/** The gateway's request ids, access log (ACCESS_LOG) and metrics (METRICS_PORT, shared/metrics.ts). */
export function gatewayOperations({ accessLogEnabled }: { accessLogEnabled: boolean }): GatewayOperations {
  const access = accessLog("gateway", accessLogEnabled);
  // Decided once: the level is set at start (LOG_LEVEL), and a request that writes nothing and records
  // nothing costs no listener.
  const write: Write | undefined = access.enabled && logsAt("info")
    ? (gw, req, status, aborted, seconds) =>
        access.write({
          requestId: gw.requestId,
          method: req.method,
          url: gw.request?.path ?? req.url,
          status,
          seconds,
          api: gw.compiled?.api.identifier,
          route: gw.compiled?.route.id,
          clientId: gw.principal?.clientId,
          reason: gw.probe ? undefined : (gw.reason ?? "allowed"),
          aborted,
        })
    : undefined;
  return {
    start(req, res) {
      const gw = new GatewayContext(requestIdOf(req));
      res.setHeader(REQUEST_ID_HEADER, gw.requestId);
      if (write || gatewayMetrics.enabled) res.once("close", () => finish(gw, req, res.statusCode, !res.writableFinished, write));
      return gw;
    },
    startUpgrade(req) {
      return new GatewayContext(requestIdOf(req));
    },
    upgraded(gw, req, status) {
      if (write || gatewayMetrics.enabled) finish(gw, req, status, false, write);
    },
  };
}
