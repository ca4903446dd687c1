// Health endpoints for load balancers and Kubernetes probes, for any of Gatehouse's HTTP servers:
//  - GET /healthz: 200 while the process is alive and serving (liveness: it checks nothing else, so a
//    database outage never gets a healthy process restarted).
//  - GET /readyz: 200 when every readiness check passes, else 503 with which failed (readiness: take the
//    instance out of rotation). A check is a function that returns true, or a promise that resolves;
//    false, a rejection or no answer within timeoutMs fails it. A check still running is joined, not
//    started again, so probes cannot pile queries onto a database that does not answer.
// Both answer application/json with Cache-Control: no-store; HEAD is answered too, without the body.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Middleware } from "koa";
import { log } from "../shared/logger.ts";

export type ReadinessCheck = () => boolean | Promise<unknown>;

export interface HealthOptions {
  /** Readiness checks by name (e.g. database, configuration, signing_keys). */
  checks: Record<string, ReadinessCheck>;
  /** Longest wait for a check, in milliseconds (default 1000: a Kubernetes probe's own default timeout is 1 s). */
  timeoutMs?: number;
  /** Names the lines this server logs when it stops or starts being ready (e.g. "gateway"). */
  server: string;
}

export type CheckResult = "ok" | "failed" | "timeout";

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

export const LIVENESS_PATH = "/healthz";
export const READINESS_PATH = "/readyz";

/**
 * The probe path `path` (already normalized and decoded) is or lies under, if any: the probes own both
 * (a gateway route may not claim them, and the gateway answers what lies below them with 404).
 */
export function probePathOf(path: string): typeof LIVENESS_PATH | typeof READINESS_PATH | undefined {
  for (const probe of [LIVENESS_PATH, READINESS_PATH] as const) {
    if (path.startsWith(probe) && (path.length === probe.length || path.charCodeAt(probe.length) === 47)) return probe;
  }
  return undefined;
}

export interface HealthEndpoints {
  /** Koa middleware answering the two paths, passing everything else on. */
  middleware: Middleware;
  /**
   * For a plain Node server: answers and returns true when `path` (the request's path, normalized by
   * the caller: the gateway resolves dot segments, repeated slashes and percent-encoding first, so no
   * spelling of the two paths reaches anything else) is one of the two (405 for a method other than GET
   * and HEAD); false for anything else.
   */
  handlePath(path: string, req: IncomingMessage, res: ServerResponse): boolean;
  /** Runs the readiness checks. */
  readiness(): Promise<Readiness>;
}

/** Which endpoint a request target names (the path alone or with a query); undefined for anything else. */
function endpointOf(url: string | undefined): "live" | "ready" | undefined {
  // Most other requests cost one or two character comparisons.
  if (url === undefined || url.charCodeAt(0) !== 47) return undefined;
  const second = url.charCodeAt(1);
  if (second !== 104 && second !== 114) return undefined;
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (path === LIVENESS_PATH) return "live";
  if (path === READINESS_PATH) return "ready";
  return undefined;
}

export function healthEndpoints(options: HealthOptions): HealthEndpoints {
  const timeoutMs = options.timeoutMs ?? 1000;
  const running = new Map<string, Promise<CheckResult>>();
  let wasReady = true;

  function run(name: string, check: ReadinessCheck): Promise<CheckResult> {
    let pending = running.get(name);
    if (!pending) {
      pending = (async (): Promise<CheckResult> => {
        try {
          return (await check()) === false ? "failed" : "ok";
        } catch {
          return "failed";
        }
      })();
      running.set(name, pending);
      void pending.finally(() => running.delete(name));
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    return Promise.race([pending, timedOut]).finally(() => clearTimeout(timer));
  }

  async function readiness(): Promise<Readiness> {
    const names = Object.keys(options.checks);
    const results = await Promise.all(names.map((name) => run(name, options.checks[name]!)));
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!])) as Record<string, CheckResult>;
    const ready = results.every((result) => result === "ok");
    if (!ready) log.warn("not ready", { server: options.server, checks });
    else if (!wasReady) log.info("ready again", { server: options.server });
    wasReady = ready;
    return { ready, checks };
  }

  function send(res: ServerResponse, method: string | undefined, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
    res.end(method === "HEAD" ? undefined : text);
  }

  async function answer(endpoint: "live" | "ready", req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (endpoint === "live") return send(res, req.method, 200, { status: "ok" });
    const { ready, checks } = await readiness();
    send(res, req.method, ready ? 200 : 503, { status: ready ? "ready" : "not_ready", checks });
  }

  const isProbe = (req: IncomingMessage) => req.method === "GET" || req.method === "HEAD";

  /** Answers a request for one of the two endpoints: the probe, or 405 naming GET and HEAD. */
  function respond(endpoint: "live" | "ready", req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isProbe(req)) {
      res.setHeader("allow", "GET, HEAD");
      send(res, req.method, 405, { error: "method_not_allowed", error_description: "probes answer GET and HEAD" });
      return Promise.resolve();
    }
    return answer(endpoint, req, res);
  }

  return {
    readiness,
    handlePath(path, req, res) {
      const endpoint = path === LIVENESS_PATH ? "live" : path === READINESS_PATH ? "ready" : undefined;
      if (!endpoint) return false;
      void respond(endpoint, req, res).catch(() => res.destroy());
      return true;
    },
    middleware: async function health(ctx, next) {
      const endpoint = endpointOf(ctx.req.url);
      if (!endpoint) return next();
      ctx.respond = false;
      await respond(endpoint, ctx.req, ctx.res);
    },
  };
}
