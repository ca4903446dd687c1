// The token information service: `GET /tokeninfo?access_token=…` and `POST /tokeninfo` (form body
// access_token=…), the read-only view gateway-era products offered beside introspection (RFC 7662).
// The token is the credential, so no client authentication; in exchange it only ever describes the
// token it was given, answers nothing for refresh or ID tokens, is rate-limited per source address and
// never cached. Listed in discovery as `tokeninfo_endpoint`.
//
// For a valid access token (JWT, checked in-process by OwnAccessTokens with the revocation list; or
// opaque, looked up through oidc-provider's models) it answers 200 with active, client_id, sub and
// user_id (when there is a user), scope, aud, iss, iat, exp, expires_in (seconds left) and token_type.
// For an unknown, expired or revoked token: 400 {"error":"invalid_token"}.
import type { Context, Middleware } from "koa";
import type Provider from "oidc-provider";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { log } from "../shared/logger.ts";
import type { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import { isDatabaseUnavailable } from "../storage/index.ts";
import { isServiceSubject } from "./grants/assertion.ts";
import { PageError } from "../web/errors.ts";
import { readForm } from "../web/form.ts";

export const TOKEN_INFO_PATH = "/tokeninfo";

/** Longest token value looked at, in characters; longer ones are no token of ours. */
const MAX_TOKEN_LENGTH = 8192;

export interface TokenInfo {
  active: true;
  client_id: string;
  sub?: string;
  /** The user the token is for (the same as sub); absent for a client's own token. */
  user_id?: string;
  scope?: string;
  aud?: string | string[];
  iss: string;
  iat?: number;
  exp: number;
  /** Seconds until exp. */
  expires_in: number;
  token_type: "Bearer";
}

export interface TokenInfoOptions {
  issuer: string;
  ownTokens: OwnAccessTokens;
  /** The current provider (it is rebuilt when the signing keys change). */
  provider: () => Provider;
  /** Requests per source address per minute (TOKENINFO_RATE_LIMIT). */
  requestsPerMinute: number;
}

interface StoredAccessToken {
  clientId: string;
  accountId?: string;
  scope?: string;
  aud?: string | string[];
  iat?: number;
  exp?: number;
  resourceServer?: { audience?: string };
}

/** The description of a token, or undefined when it is no valid access token of Gatehouse's. */
async function describe(token: string, options: TokenInfoOptions): Promise<TokenInfo | undefined> {
  const now = Math.floor(Date.now() / 1000);
  if (token.split(".").length === 3) {
    const claims = await options.ownTokens.verify(token);
    if (!claims || typeof claims.client_id !== "string" || typeof claims.exp !== "number") return undefined;
    const user = claims.sub !== claims.client_id && !isServiceSubject(claims.sub) ? claims.sub : undefined;
    return {
      active: true,
      client_id: claims.client_id,
      ...(user ? { sub: user, user_id: user } : { sub: claims.sub }),
      ...(typeof claims.scope === "string" ? { scope: claims.scope } : {}),
      ...(claims.aud !== undefined ? { aud: claims.aud } : {}),
      iss: options.issuer,
      iat: claims.iat,
      exp: claims.exp,
      expires_in: Math.max(0, claims.exp - now),
      token_type: "Bearer",
    };
  }
  // Opaque: an access token issued to a user, or a client credentials token. Expired, revoked or
  // consumed ones are not found; neither is a refresh token or a code (other models).
  const provider = options.provider();
  const stored = ((await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token))) as StoredAccessToken | undefined;
  if (!stored?.exp) return undefined;
  const aud = stored.aud ?? stored.resourceServer?.audience;
  return {
    active: true,
    client_id: stored.clientId,
    ...(stored.accountId && !isServiceSubject(stored.accountId) ? { sub: stored.accountId, user_id: stored.accountId } : { sub: stored.accountId ?? stored.clientId }),
    ...(stored.scope ? { scope: stored.scope } : {}),
    ...(aud !== undefined ? { aud } : {}),
    iss: options.issuer,
    iat: stored.iat,
    exp: stored.exp,
    expires_in: Math.max(0, stored.exp - now),
    token_type: "Bearer",
  };
}

function answer(ctx: Context, status: number, body: object): void {
  ctx.status = status;
  ctx.body = body;
}

/** The access_token parameter, from the query (GET) or the form (POST), once. */
function tokenParameter(ctx: Context): { token?: string; problem?: string } {
  const fromQuery = ctx.query.access_token;
  const fromForm = ctx.method === "POST" ? (ctx.state.form as Record<string, string>).access_token : undefined;
  if (Array.isArray(fromQuery)) return { problem: "access_token was sent more than once" };
  if (fromQuery !== undefined && fromForm !== undefined) return { problem: "access_token was sent more than once" };
  if (ctx.method === "POST" && fromQuery !== undefined) return { problem: "send access_token in the form body, not the URL, with POST" };
  const token = fromQuery ?? fromForm;
  if (!token) return { problem: "missing required parameter access_token" };
  return { token };
}

/**
 * The token info endpoint as Koa middleware for the outer app (it answers TOKEN_INFO_PATH only).
 * Errors are JSON: 400 invalid_request / invalid_token, 405 with Allow, 413, 415, 429 with Retry-After.
 */
export function tokenInfoEndpoint(options: TokenInfoOptions): Middleware {
  const limiter = new RateLimiterMemory({ points: options.requestsPerMinute, duration: 60 });
  const form = readForm();

  return async function tokenInfo(ctx, next) {
    if (ctx.path !== TOKEN_INFO_PATH) return next();
    ctx.set("Cache-Control", "no-store");
    ctx.set("Pragma", "no-cache");
    if (ctx.method !== "GET" && ctx.method !== "POST") {
      ctx.set("Allow", "GET, POST");
      return answer(ctx, 405, { error: "invalid_request", error_description: "use GET or POST" });
    }
    try {
      await limiter.consume(ctx.ip);
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      ctx.set("Retry-After", String(Math.max(1, Math.ceil(refusal.msBeforeNext / 1000))));
      return answer(ctx, 429, { error: "too_many_requests", error_description: "too many token info requests from this address, try again later" });
    }
    if (ctx.method === "POST") {
      try {
        await form(ctx, async () => {});
      } catch (failure) {
        if (!(failure instanceof PageError)) throw failure;
        return answer(ctx, failure.status, { error: "invalid_request", error_description: failure.description });
      }
    }
    const { token, problem } = tokenParameter(ctx);
    if (problem) return answer(ctx, 400, { error: "invalid_request", error_description: problem });
    let info: TokenInfo | undefined;
    try {
      info = token!.length <= MAX_TOKEN_LENGTH ? await describe(token!, options) : undefined;
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        ctx.set("Retry-After", "5");
        return answer(ctx, 503, { error: "temporarily_unavailable", error_description: "the service is temporarily unavailable, try again shortly" });
      }
      log.error("token info failed", { error: String((error as Error).stack ?? error) });
      return answer(ctx, 500, { error: "server_error", error_description: "something went wrong" });
    }
    if (!info) return answer(ctx, 400, { error: "invalid_token", error_description: "the access token is unknown, expired or revoked" });
    answer(ctx, 200, info);
  };
}
