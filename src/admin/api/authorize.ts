// Who is calling the admin API, and may they do this? A Bearer access token of Gatehouse's for
// urn:gatehouse:admin (admin:read to read, admin:write to change) or, without an Authorization header,
// a console session cookie: a viewer reads, an admin changes too, and a change made with a session must
// come from the issuer's own origin and carry the session's CSRF token in X-CSRF-Token (the same token
// the console's forms carry), since a browser sends the cookie with any site's request.
import type { Context, Middleware } from "koa";
import { securityEvent } from "../../shared/logger.ts";
import { ADMIN_API, ADMIN_SCOPES } from "../built-in.ts";
import { sessionPrincipal, tokenPrincipal, withPrincipal, type AccessDeps, type AdminPrincipal, type AdminState } from "../access.ts";
import { CsrfTokens, checkCsrf, checkOrigin } from "../../web/csrf.ts";
import { PageError } from "../../web/errors.ts";
import type { Access } from "./operation.ts";
import { Problem } from "./problems.ts";

export interface ApiDeps extends AccessDeps {
  /** The console's CSRF tokens, bound to its session. */
  csrf: CsrfTokens;
}

const REALM = "gatehouse-admin";

function bearerChallenge(error?: string, description?: string, scope?: string): string {
  const parts = [`realm="${REALM}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, "\\$&")}"`);
  if (scope) parts.push(`scope="${scope}"`);
  return `Bearer ${parts.join(", ")}`;
}

const invalidToken = () => {
  const description = `the access token is not valid for ${ADMIN_API}: expired, revoked, malformed or for another audience`;
  return new Problem(401, "invalid_token", description, { headers: { "WWW-Authenticate": bearerChallenge("invalid_token", description) } });
};

/** The caller, from the Authorization header if there is one, else from the console session cookie. */
async function principalOf(deps: ApiDeps, ctx: Context): Promise<AdminPrincipal> {
  const authorization = ctx.get("Authorization");
  if (authorization) {
    const principal = await tokenPrincipal(deps, ctx);
    // A Bearer header tokenPrincipal cannot read is a malformed token; any other scheme is not ours.
    if (principal === null || (principal === undefined && /^bearer(\s|$)/i.test(authorization))) throw invalidToken();
    if (principal) return principal;
  } else {
    const principal = await sessionPrincipal(deps, ctx);
    if (principal) return principal;
  }
  throw new Problem(401, "unauthorized", `an access token for ${ADMIN_API} (or a console session) is required`, {
    headers: { "WWW-Authenticate": bearerChallenge() },
  });
}

/** A change made with the console session: from this origin, with the session's CSRF token. */
function sessionWriteChecks(deps: ApiDeps): Middleware {
  const forged = () => new PageError(403, "csrf_failed", "a change made with a console session must come from the console's origin and carry the session's CSRF token in X-CSRF-Token");
  const origin = checkOrigin(deps.config.ISSUER, forged);
  const csrf = checkCsrf(deps.csrf, (ctx) => ((ctx.state as AdminState).principal as { sessionId: string }).sessionId, forged) as unknown as Middleware;
  return (ctx, next) => origin(ctx, () => csrf(ctx, next));
}

/** The check in front of every operation: authenticated, allowed this access, principal and services on ctx.state. */
export function authorize(deps: ApiDeps, access: Access): Middleware {
  if (access === "public") return (_ctx, next) => next();
  const sessionWrite = sessionWriteChecks(deps);
  const check: Middleware = async (ctx, next) => {
    const principal = await principalOf(deps, ctx as unknown as Context);
    withPrincipal(deps, ctx as unknown as Context, principal);
    if (principal.kind === "token" && !principal.mayRead) {
      const description = `reading needs the ${ADMIN_SCOPES.read} scope`;
      throw new Problem(403, "insufficient_scope", description, { headers: { "WWW-Authenticate": bearerChallenge("insufficient_scope", description, ADMIN_SCOPES.read) } });
    }
    if (access === "read") return next();
    if (principal.kind === "token") {
      if (!principal.mayWrite) {
        const description = `changes need the ${ADMIN_SCOPES.write} scope`;
        throw new Problem(403, "insufficient_scope", description, { headers: { "WWW-Authenticate": bearerChallenge("insufficient_scope", description, ADMIN_SCOPES.write) } });
      }
      return next();
    }
    await sessionWrite(ctx, async () => {
      if (!principal.mayWrite) throw new Problem(403, "forbidden", `${principal.user.username} is a viewer: viewers may see everything and change nothing`);
      await next();
    });
  };
  return async function authorize(ctx, next) {
    let passed = false;
    try {
      await check(ctx, () => {
        passed = true;
        return next();
      });
    } catch (error) {
      if (!passed && (error instanceof Problem || error instanceof PageError)) {
        const { principal } = ctx.state as Partial<AdminState>;
        const who = principal?.kind === "token" ? { client_id: principal.clientId } : principal?.kind === "session" ? { user: principal.user.username } : {};
        securityEvent("admin_api_refused", { reason: error instanceof Problem ? error.code : error.error, method: ctx.method, path: ctx.path, address: ctx.ip, ...who });
      }
      throw error;
    }
  };
}
