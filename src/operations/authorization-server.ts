// The authorization server's operations: its request ids, access log lines, request metrics, token and
// error metrics, and health endpoints. server.ts mounts requestOperations() first on its outer Koa app,
// then health endpoints, and passes every provider it builds through observeProvider().
//
// oidc-provider answers on its own Koa context, so what the outer app's log line needs from it (the
// endpoint, the client, the error code, the API) is put on the one object both contexts share, the
// Node request, by a provider middleware and by the provider's events (grant.success, *.error).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Middleware } from "koa";
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import { authorizationServerMetrics } from "../shared/metrics.ts";
import { accessLog } from "./access-log.ts";
import { healthEndpoints, LIVENESS_PATH, READINESS_PATH, type HealthEndpoints } from "./health.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id.ts";

/** What the access log line and the metrics of one request are made of. */
export interface RequestRecord {
  id: string;
  startedAt: number;
  url: string | undefined;
  method: string | undefined;
  /** oidc-provider's route name (token, authorization, introspection, …). */
  endpoint?: string;
  clientId?: string;
  api?: string;
  /** The OAuth error code of an error response. */
  reason?: string;
}

const RECORD = Symbol("gatehouse.request");
type RecordedRequest = IncomingMessage & { [RECORD]?: RequestRecord };

/** The request's record, when requestOperations() saw it. */
export function requestRecord(req: IncomingMessage): RequestRecord | undefined {
  return (req as RecordedRequest)[RECORD];
}

/** Endpoints outside oidc-provider, by the first segment of the path; anything else is "other". */
const ENDPOINTS_BY_PREFIX: Record<string, string> = {
  "/admin": "admin",
  "/assets": "assets",
  "/tokeninfo": "tokeninfo",
  "/interaction": "interaction",
  [LIVENESS_PATH]: "health",
  [READINESS_PATH]: "health",
};

function endpointOf(record: RequestRecord): string {
  if (record.endpoint) return record.endpoint;
  const url = record.url ?? "";
  const end = url.slice(1).search(/[/?]/);
  return ENDPOINTS_BY_PREFIX[end === -1 ? url : url.slice(0, end + 1)] ?? "other";
}

/** A label-safe OAuth error code: its own characters, or "other". */
function errorCode(code: unknown): string {
  return typeof code === "string" && /^[a-z0-9_]{1,64}$/.test(code) ? code : "other";
}

/**
 * The outer app's first middleware: gives the request its id (X-Request-Id when well formed, else a new
 * one; returned in X-Request-Id), and when the response has ended writes its access log line and records
 * its metrics. Successful health probes are counted but not logged.
 */
export function requestOperations({ accessLogEnabled }: { accessLogEnabled: boolean }): Middleware {
  const access = accessLog("authorization-server", accessLogEnabled);

  const finish = (res: ServerResponse, record: RequestRecord) => {
    const seconds = (performance.now() - record.startedAt) / 1000;
    const status = res.statusCode;
    const endpoint = endpointOf(record);
    authorizationServerMetrics.request(endpoint, status, seconds);
    // An error event whose answer was then replaced by a success (oidc-provider refuses a JWT at
    // introspection and revocation before structured-tokens.ts answers it) is no error; an
    // authorization error is one even though it is a redirect to the client.
    const reason = status >= 300 ? record.reason : undefined;
    if (reason) authorizationServerMetrics.error(endpoint, reason);
    if (!access.enabled || (endpoint === "health" && status < 400)) return;
    access.write({
      requestId: record.id,
      method: record.method,
      url: record.url,
      status,
      seconds,
      api: record.api,
      route: endpoint,
      clientId: record.clientId,
      reason,
      aborted: !res.writableFinished,
    });
  };

  return async function requestOperations(ctx, next) {
    const { req, res } = ctx;
    const record: RequestRecord = { id: requestIdOf(req), startedAt: performance.now(), url: req.url, method: req.method };
    (req as RecordedRequest)[RECORD] = record;
    res.setHeader(REQUEST_ID_HEADER, record.id);
    res.once("close", () => finish(res, record));
    try {
      await next();
    } catch (error) {
      // Koa's error response starts by removing every header: keep the id.
      if (error && typeof error === "object") {
        const withHeaders = error as { headers?: Record<string, string> };
        withHeaders.headers = { ...withHeaders.headers, [REQUEST_ID_HEADER]: record.id };
      }
      throw error;
    }
  };
}

/** Events after which oidc-provider has answered with an OAuth error (lib/shared/error_handler.js). */
const ERROR_EVENTS = [
  "authorization.error",
  "grant.error",
  "introspection.error",
  "revocation.error",
  "userinfo.error",
  "discovery.error",
  "jwks.error",
  "end_session.error",
  "end_session_confirm.error",
  "end_session_success.error",
  "pushed_authorization_request.error",
  "device_authorization.error",
  "code_verification.error",
  "device_resume.error",
  "backchannel_authentication.error",
  "registration_create.error",
  "registration_read.error",
  "registration_update.error",
  "registration_delete.error",
  "server_error",
];

type OidcContext = Partial<KoaContextWithOIDC>;

/**
 * Subscribes to one provider's events for the metrics (tokens by grant type and client, errors by code)
 * and the access log (client, API, error code), and adds the middleware that notes its endpoint and
 * client. Call before provider.callback(); returns the provider.
 */
export function observeProvider(provider: Provider): Provider {
  provider.use(async function noteRequest(ctx, next) {
    try {
      await next();
    } finally {
      const record = requestRecord(ctx.req);
      const oidc = (ctx as OidcContext).oidc;
      if (record && oidc) {
        record.endpoint = oidc.route;
        const clientId = oidc.client?.clientId ?? oidc.params?.client_id;
        if (typeof clientId === "string") record.clientId = clientId.slice(0, 128);
      }
    }
  });

  provider.on("grant.success", (ctx: KoaContextWithOIDC) => {
    const grantType = ctx.oidc.params?.grant_type;
    const clientId = ctx.oidc.client?.clientId;
    if (typeof grantType === "string" && clientId) authorizationServerMetrics.tokenIssued(grantType, clientId);
    const record = requestRecord(ctx.req);
    const resource = ctx.oidc.params?.resource;
    if (record && typeof resource === "string") record.api = resource;
  });

  const on = provider.on.bind(provider) as (event: string, listener: (ctx: OidcContext, error: { error?: unknown }) => void) => void;
  for (const event of ERROR_EVENTS) {
    const fallback = event === "server_error" ? "other" : event.slice(0, -".error".length).replace(/^grant$/, "token");
    on(event, (ctx, error) => {
      const code = event === "server_error" ? "server_error" : errorCode(error?.error);
      const record = ctx.req && requestRecord(ctx.req);
      // Counted when the response ends, if it is still an error then (see requestOperations).
      if (record) {
        record.reason = code;
        record.endpoint ??= ctx.oidc?.route ?? fallback;
      } else authorizationServerMetrics.error(ctx.oidc?.route ?? fallback, code);
    });
  }
  return provider;
}

export interface AuthorizationServerReadiness {
  /** A round trip to the database. */
  database: () => Promise<unknown>;
  /** The catalog (clients, APIs, scopes) has loaded. */
  configuration: () => boolean;
  /** The provider has signing keys. */
  signingKeys: () => boolean;
  timeoutMs?: number;
}

/** /healthz and /readyz of the authorization server. */
export function authorizationServerHealth(checks: AuthorizationServerReadiness): HealthEndpoints {
  return healthEndpoints({
    server: "authorization-server",
    timeoutMs: checks.timeoutMs,
    checks: { database: checks.database, configuration: checks.configuration, signing_keys: checks.signingKeys },
  });
}
