// The admin REST API under /admin/api/v1: the services' resources as JSON, errors as RFC 9457 problem
// details. Authenticated by a Gatehouse access token for urn:gatehouse:admin (admin:read to read,
// admin:write to change), or by a console session cookie with the session's CSRF token in X-CSRF-Token.
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { tokenPrincipal, withPrincipal, type AccessDeps, type AdminState } from "../access.ts";
import { ServiceError, ValidationError } from "../../services/errors.ts";
import { isDatabaseUnavailable } from "../../storage/index.ts";
import { log } from "../../shared/logger.ts";

/** An RFC 9457 problem: type, title, status, detail, and for bad input the fields at fault. */
function problem(ctx: Context, status: number, code: string, detail: string, extra: Record<string, unknown> = {}): void {
  ctx.status = status;
  ctx.type = "application/problem+json";
  ctx.set("Cache-Control", "no-store");
  ctx.body = { type: `https://gatehouse.dev/problems/${code}`, title: code.replaceAll("_", " "), status, detail, ...extra };
}

export function apiRoutes(deps: AccessDeps): Router {
  const router = new Router();

  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof ValidationError) return problem(ctx as unknown as Context, 400, error.code, error.message, { errors: error.issues });
      if (error instanceof ServiceError) return problem(ctx as unknown as Context, error.status, error.code, error.message);
      if (isDatabaseUnavailable(error)) {
        ctx.set("Retry-After", "5");
        return problem(ctx as unknown as Context, 503, "temporarily_unavailable", "the database is unavailable, try again shortly");
      }
      log.error("admin API failure", { path: ctx.path, error: String((error as Error)?.stack ?? error) });
      problem(ctx as unknown as Context, 500, "server_error", "the request could not be handled");
    }
  });

  /** An authenticated principal that may read (GET) or write (anything else). */
  const authenticated: Middleware = async (ctx, next) => {
    const principal = await tokenPrincipal(deps, ctx as unknown as Context);
    if (!principal) {
      ctx.set("WWW-Authenticate", `Bearer realm="gatehouse-admin"${principal === null ? ', error="invalid_token"' : ""}`);
      return problem(ctx as unknown as Context, 401, "unauthorized", "an access token for urn:gatehouse:admin is required");
    }
    if (ctx.method !== "GET" && ctx.method !== "HEAD" && !principal.mayWrite) {
      ctx.set("WWW-Authenticate", 'Bearer realm="gatehouse-admin", error="insufficient_scope", scope="admin:write"');
      return problem(ctx as unknown as Context, 403, "insufficient_scope", "changes need the admin:write scope");
    }
    withPrincipal(deps, ctx as unknown as Context, principal);
    await next();
  };

  router.get("/v1/clients", authenticated, async (ctx) => {
    ctx.body = await (ctx.state as AdminState).services.clients.list({ search: ctx.query.search as string | undefined });
  });
  return router;
}
