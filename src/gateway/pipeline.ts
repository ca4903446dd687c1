// The gateway's request pipeline, in order: match → authenticate → authorize → mutate → forward.
// Each stage is a small function over one per-request GatewayContext; the HTTP app (app.ts) runs
// them as Koa middleware and the WebSocket upgrade path runs the very same functions, so both get
// the same checks. Every refusal is logged with its reason id, stage, API and route.
import type { IncomingMessage } from "node:http";
import type { ApiRecord } from "../storage/index.ts";
import { log, tokenHash } from "../shared/logger.ts";
import { extractBearerToken } from "./authenticators/bearer-token.ts";
import { authorizeScopes } from "./authorizers/scopes.ts";
import { GatewayError, MethodNotAllowed, MissingToken, NoRoute } from "./errors.ts";
import type { ForwardTarget } from "./forward/forwarder.ts";
import { identityHeaders } from "./mutators/identity-headers.ts";
import type { OutboundTokenProvider } from "./mutators/outbound-oauth.ts";
import { ownedHeaders } from "./mutators/owned-headers.ts";
import type { SignedTokenMinter } from "./mutators/signed-token.ts";
import { withoutMethodOverride } from "./rules/method-override.ts";
import { normalizePath } from "./rules/normalize-path.ts";
import { refuseRepeatedHeaders } from "./rules/repeated-headers.ts";
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
  /** The principal of a token already verified for this API, without awaiting; undefined otherwise. */
  cachedPrincipal: (token: string, api: ApiRecord) => Principal | undefined;
  minter: SignedTokenMinter;
  outbound: OutboundTokenProvider;
}

/**
 * Reads what the pipeline needs from the raw request: the path is normalized here, once, and the
 * query loses its method overrides. Throws InvalidRequest for a repeated Host, Content-Length or
 * Authorization header.
 */
export function gatewayRequest(req: IncomingMessage): GatewayRequest {
  refuseRepeatedHeaders(req.rawHeaders);
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  return {
    method: (req.method ?? "GET").toUpperCase(),
    path: normalizePath(rawPath),
    query: queryAt === -1 ? "" : withoutMethodOverride(url.slice(queryAt + 1)),
    host: (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase(),
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress ?? "",
  };
}

export function createStages(deps: PipelineDeps) {
  const stages = {
    /** 404 when no route owns the path; 405 when the routes that own it do not accept the method. */
    match(gw: GatewayContext): void {
      gw.stage = "match";
      const { host, method, path } = gw.request;
      const routes = deps.routes();
      gw.compiled = routes.match(host, method, path);
      if (gw.compiled) return;
      const allow = routes.allowedMethods(host, path);
      throw allow.length === 0 ? new NoRoute() : new MethodNotAllowed(allow);
    },

    /** Synchronous for a token verified before (the common case); a promise when it must be checked. */
    authenticate(gw: GatewayContext): void | Promise<void> {
      gw.stage = "authenticate";
      const { route, api } = gw.compiled!;
      const found = extractBearerToken(gw.request, api.allowQueryToken);
      if (found) gw.request.query = found.query;
      if (route.public) return;
      if (!found) throw new MissingToken();
      gw.principal = deps.cachedPrincipal(found.token, api);
      if (gw.principal) return;
      return deps.authenticate(found.token, api).then((principal) => {
        gw.principal = principal;
      });
    },

    authorize(gw: GatewayContext): void {
      gw.stage = "authorize";
      if (gw.principal) authorizeScopes(gw.compiled!.route, gw.request.method, gw.principal);
    },

    /** Synchronous unless the API needs a signed identity token or an outbound OAuth token. */
    mutate(gw: GatewayContext): void | Promise<void> {
      gw.stage = "mutate";
      const { route, api } = gw.compiled!;
      const setHeaders: Record<string, string> = gw.principal ? identityHeaders(api, gw.principal) : {};
      const { origin, path } = joinUpstream(route.upstream, upstreamPath(route, gw.request.path));
      const target: ForwardTarget = {
        origin,
        path: gw.request.query ? `${path}?${gw.request.query}` : path,
        timeoutMs: route.timeoutMs,
        maxBodyBytes: route.maxBodyBytes,
        setHeaders,
        removeHeaders: ownedHeaders(api),
      };
      gw.target = target;
      const signed = gw.principal && api.forwardToken === "signed";
      if (!signed && !api.outboundOAuth) return;
      return (async () => {
        if (signed) setHeaders["x-gatehouse-token"] = await deps.minter.mint(api, gw.principal!);
        if (api.outboundOAuth) {
          const outbound = await deps.outbound.headersFor(api);
          Object.assign(setHeaders, outbound.set);
          // One refresh however many requests the upstream rejects with the same token.
          const retry = deps.outbound.retryFor(api, outbound);
          target.retryOnUnauthorized = async () => {
            const fresh = await retry();
            return fresh && { ...setHeaders, ...fresh };
          };
        }
      })();
    },

    /** Every stage before forwarding, awaiting only where a stage has to. */
    decide(gw: GatewayContext): void | Promise<void> {
      stages.match(gw);
      const authenticating = stages.authenticate(gw);
      const rest = () => {
        stages.authorize(gw);
        return stages.mutate(gw);
      };
      return authenticating ? authenticating.then(rest) : rest();
    },
  };
  return stages;
}

/** Logs a refusal with everything needed to explain it, and nothing secret. */
export function logDenial(gw: GatewayContext | undefined, error: unknown, req: IncomingMessage): void {
  const authorization = req.headers.authorization;
  const fields = {
    stage: gw?.stage,
    api: gw?.compiled?.api.identifier,
    route: gw?.compiled?.route.id,
    method: req.method,
    path: gw?.request?.path,
    ...(authorization ? { token: tokenHash(authorization) } : {}),
  };
  if (error instanceof GatewayError) {
    log.info("gateway refused", { status: error.status, reason: error.reason, ...fields });
  } else {
    log.error("gateway failure", { ...fields, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}
