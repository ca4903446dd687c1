// The gateway's HTTP server: a plain Node request handler that runs the pipeline's stages in order,
// plus the WebSocket upgrade path through the same stages, and /healthz and /readyz. Everything a request needs is in memory (route
// table, signing keys, revocation list, verified tokens), refreshed by the change feed.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Config } from "../config/env.ts";
import { dpopNonceSecret } from "../config/secrets.ts";
import type { Services } from "../services/index.ts";
import type { Storage } from "../storage/index.ts";
import type { ChangeFeed } from "../shared/change-feed.ts";
import type { RemoteKeySets } from "../shared/remote-key-sets.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import { applyClientLimits, timeoutOptions, type ClientLimits } from "./client-limits.ts";
import { Forwarder, writeSocketError } from "./forward/forwarder.ts";
import { healthEndpoints, probePathOf } from "../operations/health.ts";
import { gatewayOperations } from "../operations/gateway.ts";
import { NoRoute } from "./errors.ts";
import { GatewayContext, gatewayRequest, logDenial } from "./pipeline.ts";
import { RedisRateLimitStore } from "./policies/rate-limit-redis.ts";
import { MemoryRateLimitStore } from "./policies/rate-limit-store.ts";
import { errorResponse, type ErrorResponse } from "./respond.ts";
import { applyRouteChanges, loadRouteTable } from "./rules/load-route-table.ts";
import type { RouteTable } from "./rules/route-table.ts";
import { loadGatewayKeys, wireStages } from "./stages.ts";
import { closeGracefully } from "../shared/close-server.ts";

export interface GatewayDeps {
  config: Config;
  storage: Storage;
  services: Services;
  revocations: RevocationList;
  feed: ChangeFeed;
  keyEncryptionSecret: string;
  /** The process's one registry of other issuers' keys (shared with the authorization server). */
  remoteKeySets: RemoteKeySets;
}

export interface Gateway {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

const REALM = "gatehouse";

export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config, storage, services, revocations, feed } = deps;

  // Rate limits count in Redis, shared by every process and instance, when REDIS_URL is set; else in this process.
  const rateLimits = config.REDIS_URL ? new RedisRateLimitStore(config.REDIS_URL, config.REDIS_PREFIX) : new MemoryRateLimitStore();
  // The gateway's DPoP nonces derive from it: refused at start, not at the first request, when production lacks it (secrets.ts).
  dpopNonceSecret(config);
  let keys = await loadGatewayKeys(services);
  let table: RouteTable | undefined;
  const { stages, policies } = wireStages({ config, revocations, remoteKeySets: deps.remoteKeySets, keyEncryptionSecret: deps.keyEncryptionSecret, routes: () => table!, keys: () => keys, rateLimits, replays: storage.replays });
  table = await loadRouteTable(storage, policies);
  let seen = await storage.revisions.read();
  // A table that fails to build (a route that can never match, a policy that does not validate) keeps the previous one in service.
  feed.subscribe("gateway", async (revisions) => {
    if (revisions.config !== seen.config) {
      const log = revisions.configChanges;
      if (log && log.from === seen.config) await applyRouteChanges(table!, storage, policies, log.changes);
      else table = await loadRouteTable(storage, policies);
    }
    if (revisions.keys !== seen.keys) keys = await loadGatewayKeys(services);
    seen = revisions;
  });

  const forwarder = new Forwarder({ trustedHops: config.TRUST_PROXY });
  const operations = gatewayOperations({ accessLogEnabled: config.ACCESS_LOG });
  const health = healthEndpoints({
    server: "gateway",
    timeoutMs: config.READINESS_TIMEOUT_MS,
    checks: { database: () => storage.ping(), configuration: () => table !== undefined, signing_keys: () => keys.publicJwks.keys.length > 0 },
  });

  /** The refusal's response, with the route's policies' headers (CORS for an allowed origin, RateLimit). */
  const refusal = (gw: GatewayContext, error: unknown, req: http.IncomingMessage): ErrorResponse => {
    logDenial(gw, error, req);
    gw.refused(error);
    const response = errorResponse(REALM, error);
    gw.decorate(response.headers, true);
    return response;
  };

  /** Renders a refusal, unless the response has begun (the forwarder has then cut the connection). */
  const refuse = (gw: GatewayContext, error: unknown, req: http.IncomingMessage, res: http.ServerResponse): void => {
    const response = refusal(gw, error, req);
    if (res.headersSent) return;
    const body = JSON.stringify(response.body);
    response.headers["content-type"] = "application/json; charset=utf-8";
    response.headers["content-length"] = String(Buffer.byteLength(body));
    res.writeHead(response.status, response.headers);
    res.end(req.method === "HEAD" ? undefined : body);
  };

  const forward = (gw: GatewayContext, req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (gw.answer) {
      res.writeHead(gw.answer.status, gw.answer.headers);
      res.end();
      return;
    }
    gw.stage = "forward";
    gw.forwarding();
    forwarder.web(req, res, gw.target!).catch((error: unknown) => refuse(gw, error, req, res));
  };

  // The request handler: no framework on the path of a proxied request. The stages run in order
  // (pipeline.ts), awaiting only where one has to; /healthz and /readyz are answered once the path is normalized.
  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const gw = operations.start(req, res);
    try {
      gw.request = gatewayRequest(req);
      // Every spelling of the probes' paths (/./healthz, //readyz, %68ealthz, …) is theirs, never a route's.
      if (health.handlePath(gw.request.path, req, res)) {
        gw.probe = true;
        return;
      }
      if (probePathOf(gw.request.path)) throw new NoRoute();
      const deciding = stages.decide(gw);
      if (deciding) deciding.then(() => forward(gw, req, res), (error: unknown) => refuse(gw, error, req, res));
      else forward(gw, req, res);
    } catch (error) {
      refuse(gw, error, req, res);
    }
  }

  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const gw = operations.startUpgrade(req);
    let status: number;
    try {
      gw.request = gatewayRequest(req);
      if (probePathOf(gw.request.path)) throw new NoRoute();
      await stages.decide(gw);
      // An upgrade is a GET: no preflight answer can come back here, but refuse one rather than forward nothing.
      if (gw.answer) throw new Error("a local answer to an upgrade request");
      gw.stage = "forward";
      gw.forwarding();
      status = await forwarder.ws(req, socket, head, gw.target!);
    } catch (error) {
      const response = refusal(gw, error, req);
      writeSocketError(socket, response.status, response.headers, response.body);
      status = response.status;
    }
    operations.upgraded(gw, req, status);
  }

  const limits: ClientLimits = {
    headersTimeoutMs: config.GATEWAY_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.GATEWAY_REQUEST_TIMEOUT_MS,
    idleTimeoutMs: config.GATEWAY_IDLE_TIMEOUT_MS,
    maxConnectionsPerAddress: config.GATEWAY_MAX_CONNECTIONS_PER_ADDRESS,
  };
  const server = http.createServer(timeoutOptions(limits), handle);
  applyClientLimits(server, limits);
  server.on("upgrade", (req, socket, head) => void upgrade(req, socket, head));

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.GATEWAY_PORT, config.HOST, () => resolve(server.address() as AddressInfo));
      }),
    close: async () => {
      // WebSocket tunnels end with the forwarder: at the hard limit at the latest.
      await closeGracefully(server, { atHardLimit: () => forwarder.close() });
      forwarder.close();
      rateLimits.close();
    },
  };
}
