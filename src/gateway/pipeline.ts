// The gateway's request pipeline, in order: match → authenticate → authorize → mutate → forward.
// Each stage is a small function over one per-request GatewayContext; the HTTP app (app.ts) runs
// them as Koa middleware and the WebSocket upgrade path runs the very same functions, so both get
// the same checks. Every refusal is logged with its reason id, stage, API and route.
import type { IncomingMessage } from "node:http";
import type { ApiRecord } from "../storage/index.ts";
import { log, tokenHash } from "../shared/logger.ts";
import { extractBearerToken } from "./authenticators/bearer-token.ts";
import { authorizeScopes } from "./authorizers/scopes.ts";
import { GatewayError, MissingToken, NoRoute } from "./errors.ts";
import type { ForwardTarget } from "./forward/forwarder.ts";
import { identityHeaders, spoofableHeaders } from "./mutators/identity-headers.ts";
import type { OutboundTokenProvider } from "./mutators/outbound-oauth.ts";
import type { SignedTokenMinter } from "./mutators/signed-token.ts";
import { normalizePath } from "./rules/normalize-path.ts";
import { joinUpstream, upstreamPath } from "./rules/rewrite-path.ts";
import type { RouteTable } from "./rules/route-table.ts";
import type { CompiledRoute, GatewayRequest, Principal } from "./types.ts";

export type Stage = "match" | "authenticate" | "authorize" | "mutate" | "forward";

/** Per-request state, filled in stage by stage. */
export interface GatewayContext {
  stage: Stage;
  request: GatewayRequest;
  compiled?: CompiledRoute;
  principal?: Principal;
  target?: ForwardTarget;
}

export interface PipelineDeps {
  routes: () => RouteTable;
  authenticate: (token: string, api: ApiRecord) => Promise<Principal>;
  minter: SignedTokenMinter;
  outbound: OutboundTokenProvider;
}

/** Reads what the pipeline needs from the raw request; the path is normalized here, once. */
export function gatewayRequest(req: IncomingMessage): GatewayRequest {
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  return {
    method: (req.method ?? "GET").toUpperCase(),
    path: normalizePath(rawPath),
    query: queryAt === -1 ? "" : url.slice(queryAt + 1),
    host: (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase(),
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress ?? "",
  };
}

export function createStages(deps: PipelineDeps) {
  return {
    match(gw: GatewayContext): void {
      gw.stage = "match";
      gw.compiled = deps.routes().match(gw.request.host, gw.request.method, gw.request.path);
      if (!gw.compiled) throw new NoRoute();
    },

    async authenticate(gw: GatewayContext): Promise<void> {
      gw.stage = "authenticate";
      const { route, api } = gw.compiled!;
      const found = extractBearerToken(gw.request, api.allowQueryToken);
      if (found) gw.request.query = found.query;
      if (route.public) return;
      if (!found) throw new MissingToken();
      gw.principal = await deps.authenticate(found.token, api);
    },

    authorize(gw: GatewayContext): void {
      gw.stage = "authorize";
      if (gw.principal) authorizeScopes(gw.compiled!.route, gw.request.method, gw.principal);
    },

    async mutate(gw: GatewayContext): Promise<void> {
      gw.stage = "mutate";
      const { route, api } = gw.compiled!;
      const removeHeaders = spoofableHeaders(api);
      if (api.forwardToken !== "original") removeHeaders.push("authorization");
      const setHeaders: Record<string, string> = gw.principal ? identityHeaders(api, gw.principal) : {};
      if (gw.principal && api.forwardToken === "signed") setHeaders["x-gatehouse-token"] = await deps.minter.mint(api, gw.principal);
      let retryOnUnauthorized: ForwardTarget["retryOnUnauthorized"];
      if (api.outboundOAuth) {
        const outbound = await deps.outbound.headersFor(api);
        Object.assign(setHeaders, outbound.set);
        removeHeaders.push(...outbound.remove);
        // One refresh however many requests the upstream rejects with the same token.
        const retry = deps.outbound.retryFor(api, outbound);
        retryOnUnauthorized = async () => {
          const fresh = await retry();
          return fresh && { ...setHeaders, ...fresh };
        };
      }
      const { origin, path } = joinUpstream(route.upstream, upstreamPath(route, gw.request.path));
      gw.target = {
        origin,
        path: gw.request.query ? `${path}?${gw.request.query}` : path,
        timeoutMs: route.timeoutMs,
        maxBodyBytes: route.maxBodyBytes,
        setHeaders,
        removeHeaders,
        ...(retryOnUnauthorized ? { retryOnUnauthorized } : {}),
      };
    },
  };
}

/** Logs a refusal with everything needed to explain it, and nothing secret. */
export function logDenial(gw: GatewayContext | undefined, error: unknown, req: IncomingMessage): void {
  const authorization = req.headers.authorization;
  const fields = {
    stage: gw?.stage,
    api: gw?.compiled?.api.identifier,
    route: gw?.compiled?.route.id,
    method: req.method,
    path: gw?.request.path,
    ...(authorization ? { token: tokenHash(authorization) } : {}),
  };
  if (error instanceof GatewayError) {
    log.info("gateway refused", { status: error.status, reason: error.reason, ...fields });
  } else {
    log.error("gateway failure", { ...fields, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}
