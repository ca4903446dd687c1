// The admin console and the admin API, served by the authorization server at /admin (ADMIN_ENABLED).
// One router, mounted on the server's outer Koa app in front of oidc-provider, so it is not rebuilt
// when the provider is (key rotation, new scopes):
//   /admin/login, /admin/callback, /admin/logout, /admin/signed-out   signing in (sign-in.ts)
//   /admin/api/...                                                     the admin REST API (api/), in front of the router:
//                                                                      it answers everything under /admin/api itself
//   /admin, /admin/...                                                 the console's pages (console/)
import Router from "@koa/router";
import type { Middleware } from "koa";
import type { JSONWebKeySet } from "jose";
import type { Config } from "../config/env.ts";
import type { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import { securityHeaders } from "../shared/security-headers.ts";
import type { Storage } from "../storage/index.ts";
import { CsrfTokens } from "../web/csrf.ts";
import { handlePageErrors } from "../web/handle-errors.ts";
import type { AccessDeps } from "./access.ts";
import { adminApi } from "./api/index.ts";
import { consoleRoutes } from "./console/index.ts";
import { ConsoleSessions } from "./sessions.ts";
import { signInRoutes } from "./sign-in.ts";

export interface AdminDeps {
  config: Config;
  storage: Storage;
  /** COOKIE_SECRETS: key the console's CSRF tokens and its signed sign-in cookie. */
  cookieKeys: string[];
  keyEncryptionSecret: () => string;
  ownTokens: OwnAccessTokens;
  publicJwks: () => JSONWebKeySet;
  /**
   * Brings this process's caches (catalog, routes, keys, revocations) up to date: run after every change
   * the console or the API makes, before answering, so the change is live here at once (the change
   * feed's tick; other processes follow through change notifications).
   */
  refresh: () => Promise<void>;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The console's pages may run their own scripts (views/assets) and call the console itself; nothing else. */
export const CONSOLE_POLICY = { "script-src": ["'self'"], "connect-src": ["'self'"] };

export function adminRoutes(deps: AdminDeps): Middleware {
  const sessions = new ConsoleSessions(deps.storage, deps.config);
  const access: AccessDeps = { ...deps, sessions };
  const csrf = new CsrfTokens(deps.cookieKeys, "console");
  const signIn = signInRoutes({ ...deps, sessions });

  const router = new Router({ prefix: "/admin" });
  router.use(securityHeaders(CONSOLE_POLICY));
  const pages = handlePageErrors("Your console session has ended. Sign in again.");
  router.get("/login", pages, signIn.login);
  router.get("/callback", pages, signIn.callback);
  router.get("/signed-out", pages, signIn.signedOut);
  const consolePages = consoleRoutes({ ...access, csrf, signIn });
  router.use(consolePages.routes() as unknown as Middleware, consolePages.allowedMethods() as unknown as Middleware);
  const api = adminApi({ ...access, csrf });
  const routes = router.routes() as unknown as Middleware;
  return async function admin(ctx, next) {
    if (!ctx.path.startsWith("/admin")) return next();
    await api(ctx, () => routes(ctx, next));
    if (!SAFE_METHODS.has(ctx.method) && ctx.status < 400) await deps.refresh();
  };
}
