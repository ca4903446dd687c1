// Signing in to the console: the console is an OAuth client of Gatehouse itself. /admin/login starts an
// authorization code flow with PKCE (S256), state and nonce, through the ordinary login page;
// /admin/callback redeems the code at Gatehouse's own token endpoint (over loopback), checks the ID
// token with Gatehouse's keys, and starts a console session for a user whose roles allow it.
// /admin/logout ends the console session and the authorization server's session (RP-initiated logout).
import crypto from "node:crypto";
import type { Context, Middleware } from "koa";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import type { Config } from "../config/env.ts";
import { log, securityEvent } from "../shared/logger.ts";
import type { Storage } from "../storage/index.ts";
import { PageError } from "../web/errors.ts";
import { sendPage } from "../web/pages.ts";
import { CONSOLE_CLIENT_ID, consoleUris } from "./built-in.ts";
import { consoleRole } from "./access.ts";
import type { ConsoleSessions } from "./sessions.ts";

const SIGN_IN_COOKIE = "gatehouse_console_signin";
const SIGN_IN_TTL_MS = 10 * 60_000;

interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

export interface SignInDeps {
  config: Config;
  storage: Storage;
  sessions: ConsoleSessions;
  /** Gatehouse's current public keys, to check the ID token. */
  publicJwks: () => JSONWebKeySet;
}

/** Only console paths, so the return address cannot send the browser elsewhere. */
export function safeReturnTo(value: unknown): string {
  return typeof value === "string" && /^\/admin([/?][A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/.test(value) && !value.startsWith("//") ? value : "/admin";
}

const random = () => crypto.randomBytes(32).toString("base64url");

/** The loopback address of this server's own listener, for the token request. */
function localBase(config: Config): string {
  const host = config.HOST === "0.0.0.0" || config.HOST === "::" ? "127.0.0.1" : config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}`;
}

export function signInRoutes(deps: SignInDeps) {
  const { config, storage, sessions } = deps;
  const uris = consoleUris(config.ISSUER);
  const cookie = { httpOnly: true, sameSite: "lax" as const, secure: config.ISSUER.startsWith("https:"), path: "/admin", signed: true, overwrite: true };
  let keys: { source: JSONWebKeySet; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  const keySet = () => {
    const source = deps.publicJwks();
    if (keys?.source !== source) keys = { source, set: createLocalJWKSet(source) };
    return keys.set;
  };

  /** GET /admin/login: off to the authorization endpoint. */
  const login: Middleware = async (ctx) => {
    const pending: PendingSignIn = { state: random(), nonce: random(), verifier: random(), returnTo: safeReturnTo(ctx.query.return_to) };
    ctx.cookies.set(SIGN_IN_COOKIE, Buffer.from(JSON.stringify(pending)).toString("base64url"), { ...cookie, maxAge: SIGN_IN_TTL_MS });
    const params = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      response_type: "code",
      scope: "openid profile",
      redirect_uri: uris.callback,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: crypto.hash("sha256", pending.verifier, "base64url"),
      code_challenge_method: "S256",
    });
    ctx.redirect(`/authorize?${params}`);
  };

  function pendingSignIn(ctx: Context): PendingSignIn {
    const raw = ctx.cookies.get(SIGN_IN_COOKIE, { signed: true });
    ctx.cookies.set(SIGN_IN_COOKIE, null, cookie);
    try {
      if (raw) return JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as PendingSignIn;
    } catch {
      // a cookie we did not write
    }
    throw new PageError(400, "invalid_request", "This sign-in has expired or was started in another browser. Sign in again.");
  }

  /** The ID token's subject, after redeeming the code. */
  async function redeem(code: string, pending: PendingSignIn): Promise<string> {
    const response = await fetch(`${localBase(config)}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: uris.callback, code_verifier: pending.verifier, client_id: CONSOLE_CLIENT_ID }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { id_token?: string; error?: string };
    if (!response.ok || !body.id_token) throw new PageError(400, body.error ?? "invalid_grant", "The sign-in could not be completed. Sign in again.");
    const { payload } = await jwtVerify(body.id_token, keySet(), { issuer: config.ISSUER, audience: CONSOLE_CLIENT_ID });
    if (payload.nonce !== pending.nonce || typeof payload.sub !== "string") throw new PageError(400, "invalid_request", "The sign-in could not be completed. Sign in again.");
    return payload.sub;
  }

  /** GET /admin/callback: the authorization response. */
  const callback: Middleware = async (ctx) => {
    const pending = pendingSignIn(ctx);
    if (ctx.query.state !== pending.state) throw new PageError(400, "invalid_request", "This sign-in does not belong to this browser. Sign in again.");
    if (typeof ctx.query.error === "string") {
      throw new PageError(403, ctx.query.error, ctx.query.error === "access_denied" ? "The sign-in was cancelled." : "The sign-in did not succeed. Sign in again.");
    }
    if (typeof ctx.query.code !== "string") throw new PageError(400, "invalid_request", "The sign-in response has no code. Sign in again.");
    const user = await storage.users.findById(await redeem(ctx.query.code, pending));
    const role = user && consoleRole(user);
    if (!user || !role) {
      securityEvent("console_access_refused", { user: user?.id, address: ctx.ip });
      await sendPage(ctx, "admin/forbidden", { title: "No access", username: user?.username ?? "" }, 403);
      return;
    }
    await sessions.start(ctx, user);
    log.info("console sign-in", { user: user.username, role, address: ctx.ip });
    ctx.redirect(pending.returnTo);
  };

  /** POST /admin/logout (CSRF-checked by the caller): the console session, then the authorization server's. */
  const logout: Middleware = async (ctx) => {
    await sessions.end(ctx);
    ctx.redirect(`/logout?${new URLSearchParams({ client_id: CONSOLE_CLIENT_ID, post_logout_redirect_uri: uris.signedOut })}`);
  };

  /** GET /admin/signed-out. */
  const signedOut: Middleware = async (ctx) => {
    await sendPage(ctx, "admin/signed-out", { title: "Signed out" });
  };

  return { login, callback, logout, signedOut };
}
