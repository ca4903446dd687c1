// The gateway's request pipeline, in order: match → authenticate → authorize → mutate → forward.
// Each stage is a small function over one per-request GatewayContext; the HTTP app (app.ts) runs
// them and the WebSocket upgrade path runs the very same functions, so both get the same checks.
// Every refusal is logged with its reason id, stage, API and route.
//
// Each stage does its built-in work, then runs the handlers of the policies that apply to the route
// (policies/), compiled into the route table per stage and in pipeline order:
//   match         the route for the host, method and path (404, 405); cors answers a preflight here
//   authenticate  the API's token check (JWT or introspection), unless the route is public; a token
//                 bound to a key (cnf) needs the DPoP scheme and a proof of this request (authenticators/dpop.ts)
//   authorize     the route's scopes for the method (403), then rate_limit (429)
//   mutate        identity headers, then claim_headers, forward_token, outbound_oauth
//   forward       the upstream request (forward/); cors and rate_limit add their response headers
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { ApiRecord } from "../storage/index.ts";
import { log, tokenHash } from "../shared/logger.ts";
import { extractBearerToken, type BearerToken } from "./authenticators/bearer-token.ts";
import { dpopProofOf, invalidDpopToken, type DpopVerifier } from "./authenticators/dpop.ts";
import { clientFacing } from "./forward/forwarded.ts";
import { authorizeScopes } from "./authorizers/scopes.ts";
import { GatewayError, InvalidToken, MethodNotAllowed, MissingToken, NoRoute, TooManyRequests } from "./errors.ts";
import type { ForwardTarget, ResponseDecorator } from "./forward/forwarder.ts";
import { identityHeaders } from "./mutators/identity-headers.ts";
import { newRequestId, REQUEST_ID_HEADER } from "../operations/request-id.ts";
import type { OriginHeaders } from "./policies/cors.ts";
import type { PolicyHandler, ResponseHeaders } from "./policies/types.ts";
import { withoutMethodOverride } from "./rules/method-override.ts";
import { normalizePath } from "./rules/normalize-path.ts";
import { refuseRepeatedHeaders } from "./rules/repeated-headers.ts";
import { joinUpstream, upstreamPath } from "./rules/rewrite-path.ts";
import type { RouteTable } from "./rules/route-table.ts";
import type { CompiledRoute, GatewayRequest, Principal } from "./types.ts";

export type Stage = "match" | "authenticate" | "authorize" | "mutate" | "forward";

/** A response the gateway gives itself, without forwarding (an allowed CORS preflight). */
export interface LocalAnswer {
  status: number;
  headers: Readonly<Record<string, string>>;
}

/** Per-request state, filled in stage by stage, and what the access log and the metrics read from it. */
export class GatewayContext implements ResponseDecorator {
  stage: Stage = "match";
  request: GatewayRequest = undefined as unknown as GatewayRequest;
  compiled: CompiledRoute | undefined = undefined;
  principal: Principal | undefined = undefined;
  target: ForwardTarget | undefined = undefined;
  /** Set when the gateway answers the request itself: no later stage runs. */
  answer: LocalAnswer | undefined = undefined;
  /** cors: the headers for the request's origin when it is allowed. */
  cors: OriginHeaders | undefined = undefined;
  /** rate_limit: the RateLimit field for the response. */
  rateLimit: string | undefined = undefined;
  /** dpop: the route's API accepts DPoP-bound tokens only, and its proofs' iat window (policies/dpop.ts). */
  dpop: DpopRouteSettings | undefined = undefined;
  /** The request's id (operations/request-id.ts): returned to the caller and sent to the backend. */
  readonly requestId: string;
  /** performance.now() at the request's arrival (milliseconds). */
  readonly startedAt: number = performance.now();
  /** A health probe, answered before the pipeline. */
  probe = false;
  /** The refusal's reason id (GatewayError.reason, "internal_error" for anything else); undefined while allowed. */
  reason: string | undefined = undefined;
  /** Seconds from handing the request to the upstream to its response headers. */
  upstreamSeconds: number | undefined = undefined;
  /** The upstream failed after its response began (the client's connection was cut). */
  upstreamReset = false;
  private upstreamAt = 0;

  constructor(requestId: string = newRequestId()) {
    this.requestId = requestId;
  }

  /** Notes why the request was refused. */
  refused(error: unknown): void {
    this.reason = error instanceof GatewayError ? error.reason : "internal_error";
  }

  /** The request is handed to the upstream now. */
  forwarding(): void {
    this.upstreamAt = performance.now();
  }

  /** Lets the route's policies add their response headers (the upstream's response, or the gateway's refusal when `own`). */
  decorate(headers: ResponseHeaders, own: boolean): void {
    if (!own && this.upstreamAt !== 0) this.upstreamSeconds = (performance.now() - this.upstreamAt) / 1000;
    // The caller gets the id the access log has, whatever the upstream answers in X-Request-Id.
    headers[REQUEST_ID_HEADER] = this.requestId;
    const handlers = this.compiled?.policies.respond;
    if (handlers) for (const handler of handlers) handler.respond!(this, headers, own);
  }

  /** The upstream's response was cut short after it began. */
  reset(): void {
    this.upstreamReset = true;
  }
}

/** What the dpop policy sets for a route (services/policies.ts). */
export interface DpopRouteSettings {
  /** Plain bearer tokens are refused: only DPoP-bound tokens with their proofs. */
  required: boolean;
  /** The proofs' iat window in seconds; undefined: GATEWAY_DPOP_PROOF_MAX_AGE. */
  maxAgeSeconds: number | undefined;
  /** Proofs must carry a nonce of the gateway's (RFC 9449 §9). */
  requireNonce: boolean;
}

export interface PipelineDeps {
  routes: () => RouteTable;
  authenticate: (token: string, api: ApiRecord) => Promise<Principal>;
  /** The principal of a token already verified for this API, without awaiting; undefined otherwise. */
  cachedPrincipal: (token: string, api: ApiRecord) => Principal | undefined;
  /**
   * DPoP proofs (RFC 9449) and the TRUST_PROXY hops whose X-Forwarded-Proto/-Host say the URI the client
   * used. Absent: every DPoP request is refused (a DPoP-bound token is never accepted without a proof).
   */
  dpop?: { verifier: DpopVerifier; trustedHops: number };
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

/** A CORS preflight: OPTIONS announcing the method of the request to come, from a page of some origin. */
function isPreflight(method: string, headers: IncomingHttpHeaders): boolean {
  return method === "OPTIONS" && headers.origin !== undefined && headers["access-control-request-method"] !== undefined;
}

type StageHandler = (handler: PolicyHandler, gw: GatewayContext, target: ForwardTarget) => void | Promise<void>;

const authorizeWith: StageHandler = (handler, gw) => handler.authorize!(gw);
const mutateWith: StageHandler = (handler, gw, target) => handler.mutate!(gw, target);

/** Runs a stage's handlers in order, synchronously until one has to wait, then the rest after it. */
function runHandlers(handlers: readonly PolicyHandler[], run: StageHandler, gw: GatewayContext, target: ForwardTarget, from = 0): void | Promise<void> {
  for (let i = from; i < handlers.length; i++) {
    const pending = run(handlers[i]!, gw, target);
    if (pending) return pending.then(() => runHandlers(handlers, run, gw, target, i + 1));
  }
}

export function createStages(deps: PipelineDeps) {
  const stages = {
    /**
     * 404 when no route owns the path; 405 when the routes that own it do not accept the method. A CORS
     * preflight is answered (gw.answer) or refused here by the cors policy of the route its announced
     * method would take.
     */
    match(gw: GatewayContext): void {
      gw.stage = "match";
      const { host, method, path, headers } = gw.request;
      const routes = deps.routes();
      if (isPreflight(method, headers)) {
        const announced = routes.match(host, String(headers["access-control-request-method"]), path);
        const preflight = announced?.policies.preflight;
        if (preflight) {
          gw.compiled = announced;
          preflight.preflight!(gw);
          return;
        }
      }
      const compiled = routes.match(host, method, path);
      if (!compiled) {
        const allow = routes.allowedMethods(host, path);
        throw allow.length === 0 ? new NoRoute() : new MethodNotAllowed(allow);
      }
      gw.compiled = compiled;
      for (const handler of compiled.policies.match) handler.match!(gw);
    },

    /**
     * Synchronous for a bearer token verified before (the common case); a promise when it must be checked,
     * and always for the DPoP scheme (the proof is checked for each request). A bearer token bound to a key
     * (cnf) is refused: its binding is only worth something with a proof (RFC 9449 §7.1).
     */
    authenticate(gw: GatewayContext): void | Promise<void> {
      gw.stage = "authenticate";
      const { route, api } = gw.compiled!;
      const found = extractBearerToken(gw.request, api.allowQueryToken);
      if (found) gw.request.query = found.query;
      if (route.public) return;
      if (!found) {
        if (gw.dpop?.required) throw invalidDpopToken("a DPoP-bound access token is required (Authorization: DPoP, with a DPoP proof)", "token_missing");
        throw new MissingToken();
      }
      if (found.scheme === "DPoP") return authenticateDpop(gw, found);
      if (gw.dpop?.required) throw invalidDpopToken("this API accepts DPoP-bound access tokens only (Authorization: DPoP, with a DPoP proof)", "dpop_required");
      const cached = deps.cachedPrincipal(found.token, api);
      if (cached) {
        gw.principal = refuseBoundAsBearer(cached);
        return;
      }
      return deps.authenticate(found.token, api).then((principal) => {
        gw.principal = refuseBoundAsBearer(principal);
      });
    },

    /** The route's scopes, then the policies' checks (rate limits): synchronous unless a policy has to wait. */
    authorize(gw: GatewayContext): void | Promise<void> {
      gw.stage = "authorize";
      const compiled = gw.compiled!;
      if (gw.principal) authorizeScopes(compiled.route, gw.request.method, gw.principal);
      const handlers = compiled.policies.authorize;
      if (handlers.length) return runHandlers(handlers, authorizeWith, gw, undefined as unknown as ForwardTarget);
    },

    /** The upstream request: identity headers, then the policies' (a signed or outbound token makes it wait). */
    mutate(gw: GatewayContext): void | Promise<void> {
      gw.stage = "mutate";
      const { route, policies } = gw.compiled!;
      const { origin, path } = joinUpstream(route.upstream, upstreamPath(route, gw.request.path));
      const target: ForwardTarget = {
        origin,
        path: gw.request.query ? `${path}?${gw.request.query}` : path,
        timeoutMs: route.timeoutMs,
        maxBodyBytes: route.maxBodyBytes,
        setHeaders: gw.principal ? identityHeaders(gw.principal, gw.requestId) : { [REQUEST_ID_HEADER]: gw.requestId },
        removeHeaders: policies.ownedHeaders,
        decorator: gw,
      };
      gw.target = target;
      if (policies.mutate.length) return runHandlers(policies.mutate, mutateWith, gw, target);
    },

    /** Every stage before forwarding, awaiting only where a stage has to; stops at a local answer. */
    decide(gw: GatewayContext): void | Promise<void> {
      stages.match(gw);
      if (gw.answer) return;
      const authenticating = stages.authenticate(gw);
      if (authenticating) return authenticating.then(() => afterAuthentication(gw));
      return afterAuthentication(gw);
    },
  };

  /**
   * `Authorization: DPoP <token>` with its proof: the token as any other, then the proof against the
   * token's cnf.jkt and this request as the client sent it (RFC 9449 §4.3, §7.1).
   * @throws DpopRefused (401, WWW-Authenticate: DPoP) for a bad token, an unbound one or a bad proof
   */
  async function authenticateDpop(gw: GatewayContext, found: BearerToken): Promise<void> {
    const { api } = gw.compiled!;
    const { request } = gw;
    const proof = dpopProofOf(request.headers.dpop);
    if (!deps.dpop) throw invalidDpopToken("DPoP is not supported here", "dpop_unsupported");
    let principal: Principal;
    try {
      principal = deps.cachedPrincipal(found.token, api) ?? (await deps.authenticate(found.token, api));
    } catch (error) {
      // The same refusal, with the DPoP challenge the client's scheme calls for.
      if (error instanceof InvalidToken) throw invalidDpopToken(error.message, error.reason);
      throw error;
    }
    const jkt = (principal.claims.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt !== "string") throw invalidDpopToken("the access token is not bound to a DPoP key: send it as Bearer", "token_not_dpop_bound");
    const { scheme, host } = clientFacing(request.headers, false, deps.dpop.trustedHops);
    await deps.dpop.verifier.verify(proof, { method: request.method, scheme, host, path: request.path, accessToken: found.token, jkt, maxAgeSeconds: gw.dpop?.maxAgeSeconds, requireNonce: gw.dpop?.requireNonce });
    gw.principal = principal;
  }

  function afterAuthentication(gw: GatewayContext): void | Promise<void> {
    const authorizing = stages.authorize(gw);
    if (authorizing) return authorizing.then(() => stages.mutate(gw));
    return stages.mutate(gw);
  }

  return stages;
}

/** The principal of a token sent as Bearer; a token bound to a key (cnf: DPoP, mTLS) is refused, since its binding is its protection. */
function refuseBoundAsBearer(principal: Principal): Principal {
  if (principal.claims.cnf === undefined) return principal;
  throw invalidDpopToken("the access token is bound to a key: send it with the DPoP scheme and a DPoP proof", "token_sender_constrained");
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
    // The token's own hash, as the authorization server logs it (not of "Bearer <token>").
    ...(authorization ? { token: tokenHash(authorization.replace(/^\s*\S+\s+/, "")) } : {}),
  };
  if (error instanceof GatewayError) {
    log.info("gateway refused", { status: error.status, reason: error.reason, ...fields, ...(error instanceof TooManyRequests ? { limit: error.violated.join(" ") } : {}) });
  } else {
    log.error("gateway failure", { ...fields, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}
