// The console's pages: server-rendered from views/admin/, usable without JavaScript. Every page needs a
// signed-in console user (else: off to /admin/login, and back); every form is CSRF-checked against the
// console session and must come from the issuer's own origin; a viewer sees every page and no button
// that changes anything, and a change they post anyway is refused.
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { CsrfTokens, checkCsrf, checkOrigin } from "../../web/csrf.ts";
import { PageError } from "../../web/errors.ts";
import { readForm } from "../../web/form.ts";
import { handlePageErrors } from "../../web/handle-errors.ts";
import { sendPage } from "../../web/pages.ts";
import { sessionPrincipal, withPrincipal, type AccessDeps, type AdminState } from "../access.ts";
import type { signInRoutes } from "../sign-in.ts";

export interface ConsoleDeps extends AccessDeps {
  csrf: CsrfTokens;
  signIn: ReturnType<typeof signInRoutes>;
}

const forged = () => new PageError(403, "invalid_request", "This form has expired or was not sent from this console. Reload the page and try again.");

export function consoleRoutes(deps: ConsoleDeps): Router {
  const router = new Router();
  const pages = handlePageErrors("Your console session has ended. Sign in again.");

  /** A signed-in console user, or off to sign in (and back to this page). */
  const signedIn: Middleware = async (ctx, next) => {
    const principal = await sessionPrincipal(deps, ctx as unknown as Context);
    if (!principal) {
      if (ctx.method === "GET" || ctx.method === "HEAD") return ctx.redirect(`/admin/login?${new URLSearchParams({ return_to: ctx.originalUrl })}`);
      throw new PageError(401, "login_required", "Your console session has ended. Sign in again.");
    }
    withPrincipal(deps, ctx as unknown as Context, principal);
    await next();
  };

  /** A form: same origin, signed in, read, and carrying the session's CSRF token. */
  const form = (...more: Middleware[]): Middleware[] => [
    pages,
    checkOrigin(deps.config.ISSUER, forged),
    signedIn,
    readForm() as unknown as Middleware,
    checkCsrf(deps.csrf, (ctx) => ((ctx.state as AdminState).principal as { sessionId: string }).sessionId, forged) as unknown as Middleware,
    ...more,
  ];

  router.get("/", pages, signedIn, async (ctx) => {
    const { principal } = ctx.state as AdminState;
    await sendPage(ctx as unknown as Context, "admin/dashboard", {
      title: "Dashboard",
      principal,
      csrf: principal.kind === "session" ? deps.csrf.issue(principal.sessionId) : "",
    });
  });
  router.post("/logout", ...form(deps.signIn.logout));
  return router;
}
