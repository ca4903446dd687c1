// The console's pages: server-rendered from views/admin/, usable without JavaScript. Every page needs a
// signed-in console user (else: off to /admin/login, and back); every form is CSRF-checked against the
// console session and must come from the issuer's own origin; a viewer sees every page and no button
// that changes anything, and a change they post anyway is refused. Changes redirect (POST, redirect,
// GET) with a flash message, except the pages that show a secret once, which are rendered directly.
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { NotFoundError, ServiceError } from "../../services/errors.ts";
import { CsrfTokens, checkCsrf, checkOrigin } from "../../web/csrf.ts";
import { PageError } from "../../web/errors.ts";
import { readForm } from "../../web/form.ts";
import { handlePageErrors } from "../../web/handle-errors.ts";
import { sessionPrincipal, withPrincipal, type AccessDeps, type AdminState } from "../access.ts";
import type { signInRoutes } from "../sign-in.ts";
import { apiPages } from "./apis.ts";
import { auditPages } from "./audit.ts";
import { clientPages } from "./clients.ts";
import { dashboardPage } from "./dashboard.ts";
import { issuerPages } from "./issuers.ts";
import { keyPages } from "./keys.ts";
import { show, type PageDeps } from "./page.ts";
import { scopePages } from "./scopes.ts";
import { createTrial } from "./try-it.ts";
import { userPages } from "./users.ts";

export interface ConsoleDeps extends AccessDeps {
  csrf: CsrfTokens;
  signIn: ReturnType<typeof signInRoutes>;
}

/** What each group of pages registers its routes with. */
export interface ConsoleKit {
  deps: ConsoleDeps;
  page: PageDeps;
  /** The middleware of a page: errors as pages, signed in. */
  view: Middleware[];
  /** The middleware of a page with a form that changes something: a viewer is refused. */
  editor: Middleware[];
  /** The middleware of a change: a form from this console, by an admin. `lists`: fields sent as lists. */
  change: (options?: { lists?: readonly string[] }) => Middleware[];
}

const forged = () => new PageError(403, "invalid_request", "This form has expired or was not sent from this console. Reload the page and try again.");
const readOnly = () => new PageError(403, "forbidden", "Your role is viewer: you can see everything in the console but change nothing.");

export function consoleRoutes(deps: ConsoleDeps): Router {
  const router = new Router();
  const pages = handlePageErrors("Your console session has ended. Sign in again.");
  const page: PageDeps = { csrf: deps.csrf, issuer: deps.config.ISSUER };

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

  /** Refusals of a signed-in user's request, shown inside the console (the navigation stays). */
  const inConsole: Middleware = async (ctx, next) => {
    try {
      await next();
    } catch (failure) {
      const refusal =
        failure instanceof NotFoundError ? { status: 404, heading: "Not found", text: failure.message }
        : failure instanceof PageError && (failure.status === 403 || failure.status === 404) ? { status: failure.status, heading: failure.status === 403 ? "Not allowed" : "Not found", text: failure.description }
        : failure instanceof ServiceError ? { status: failure.status, heading: "Not possible", text: failure.message }
        : undefined;
      if (!refusal || ctx.headerSent) throw failure;
      await show(ctx as unknown as Context, page, "message", { title: refusal.heading, section: "dashboard", heading: refusal.heading, text: refusal.text }, refusal.status);
    }
  };

  const mayChange: Middleware = async (ctx, next) => {
    if (!(ctx.state as AdminState).principal.mayWrite) throw readOnly();
    await next();
  };

  /** A form: same origin, signed in, read, and carrying the session's CSRF token. */
  const form = (lists: readonly string[] = []): Middleware[] => [
    pages,
    checkOrigin(deps.config.ISSUER, forged),
    signedIn,
    readForm({ lists }) as unknown as Middleware,
    checkCsrf(deps.csrf, (ctx) => ((ctx.state as AdminState).principal as { sessionId: string }).sessionId, forged) as unknown as Middleware,
  ];

  const kit: ConsoleKit = {
    deps,
    page,
    view: [pages, signedIn, inConsole],
    editor: [pages, signedIn, inConsole, mayChange],
    change: ({ lists = [] } = {}) => [...form(lists), inConsole, mayChange],
  };

  dashboardPage(router, kit);
  clientPages(router, kit);
  apiPages(router, kit, createTrial(deps));
  scopePages(router, kit);
  userPages(router, kit);
  issuerPages(router, kit);
  keyPages(router, kit);
  auditPages(router, kit);
  router.post("/logout", ...form(), deps.signIn.logout);
  return router;
}
