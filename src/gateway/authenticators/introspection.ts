// Authenticator "introspection": opaque access tokens, asked of the authorization server (RFC 7662).
// An active answer is cached until the token expires or cacheTtlSeconds pass, whichever is first; a
// revocation at the server reaches every instance's revocation list at once (the token itself, or its
// client's or subject's mark), and a cached answer it refuses is dropped. A refusal is cached for a few
// seconds only, so a client hammering with a bad token does not hammer the server; concurrent
// requests with the same token share one call. A server that cannot be asked is a 502, not a 401:
// the token may well be good.
import { log } from "../../shared/logger.ts";
import type { ApiRecord } from "../../storage/repositories/apis.ts";
import { BadGateway, InvalidToken } from "../errors.ts";
import type { Principal } from "../types.ts";
import { audienceIncludes, optionalString, scopesOf } from "./claims.ts";
import { describeFailure } from "./failure.ts";
import { VerifiedTokenCache } from "../../shared/verified-token-cache.ts";
import type { RevocableClaims } from "../../shared/revocation-list.ts";

export interface IntrospectionAuthenticatorOptions {
  /** E.g. `${issuer}/introspect`. */
  endpoint: string;
  /** The gateway's client at the authorization server (client_secret_basic). */
  clientId: string;
  clientSecret: string;
  /** Longest time an active answer is trusted without asking again. */
  cacheTtlSeconds: number;
  timeoutMs: number;
  /** Longest time a refusal is remembered; default 5, never more than cacheTtlSeconds. */
  negativeCacheSeconds?: number;
  /** Default: a cache of 10,000 tokens kept at most cacheTtlSeconds. */
  cache?: VerifiedTokenCache<Principal>;
  /**
   * The revocation list every instance keeps (revocation-list.ts): a cached answer it refuses is dropped
   * at once. Opaque tokens are listed by their value (their jti), as the authorization server revokes
   * them (oidc-adapter.ts); client and subject marks apply by client_id, sub and iat.
   */
  revocations?: { refuses(claims: RevocableClaims): boolean };
}

interface Refusal {
  description: string;
  reason: string;
}

export class IntrospectionAuthenticator {
  private readonly endpoint: string;
  private readonly authorization: string;
  private readonly cacheTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly timeoutMs: number;
  private readonly cache: VerifiedTokenCache<Principal>;
  private readonly refusals: VerifiedTokenCache<Refusal>;
  private readonly inFlight = new Map<string, Promise<Principal>>();
  private readonly revocations: IntrospectionAuthenticatorOptions["revocations"];
  private calls = 0;

  constructor(options: IntrospectionAuthenticatorOptions) {
    if (!URL.canParse(options.endpoint)) throw new TypeError("IntrospectionAuthenticator: endpoint must be a URL");
    if (!(options.cacheTtlSeconds > 0)) throw new RangeError("IntrospectionAuthenticator: cacheTtlSeconds must be positive");
    if (!(options.timeoutMs > 0)) throw new RangeError("IntrospectionAuthenticator: timeoutMs must be positive");
    const negativeCacheSeconds = Math.min(options.negativeCacheSeconds ?? 5, options.cacheTtlSeconds);
    if (!(negativeCacheSeconds > 0)) throw new RangeError("IntrospectionAuthenticator: negativeCacheSeconds must be positive");
    this.endpoint = options.endpoint;
    this.authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString("base64")}`;
    this.cacheTtlMs = options.cacheTtlSeconds * 1000;
    this.negativeTtlMs = negativeCacheSeconds * 1000;
    this.timeoutMs = options.timeoutMs;
    this.cache = options.cache ?? new VerifiedTokenCache<Principal>({ maxTtlSeconds: options.cacheTtlSeconds });
    this.refusals = new VerifiedTokenCache({ maxTtlSeconds: negativeCacheSeconds });
    this.revocations = options.revocations;
  }

  /** Introspection requests sent, for tests and metrics. */
  get stats(): { introspections: number } {
    return { introspections: this.calls };
  }

  /** The principal of an active access token for this API; throws InvalidToken (401) or BadGateway (502). */
  async authenticate(token: string, api: ApiRecord): Promise<Principal> {
    // Cached per token, not per API: the answer is the same for every API, the audience is checked here.
    const key = VerifiedTokenCache.key(token);
    const principal = this.cache.get(key) ?? (await this.introspectOnce(key, token));
    const { client_id, sub, iat, gid, sgid, sclient } = principal.claims;
    if (this.revocations?.refuses({ jti: token, gid, sgid, sclient, client_id, sub, iat })) {
      this.cache.delete(key);
      throw new InvalidToken("the access token has been revoked", "token_revoked");
    }
    if (!audienceIncludes(principal.claims.aud, api.identifier)) {
      throw new InvalidToken("the access token is not meant for this API", "audience_mismatch");
    }
    return principal;
  }

  private introspectOnce(key: string, token: string): Promise<Principal> {
    const refused = this.refusals.get(key);
    if (refused) return Promise.reject(new InvalidToken(refused.description, refused.reason));
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.introspect(key, token).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async introspect(key: string, token: string): Promise<Principal> {
    const answer = await this.ask(token);
    const now = Date.now();
    try {
      const principal = this.principalFrom(answer, token, now);
      this.cache.set(key, principal, Math.min(principal.expiresAt * 1000, now + this.cacheTtlMs), now);
      return principal;
    } catch (error) {
      if (error instanceof InvalidToken) this.refusals.set(key, { description: error.message, reason: error.reason }, now + this.negativeTtlMs, now);
      throw error;
    }
  }

  private async ask(token: string): Promise<Record<string, unknown>> {
    this.calls++;
    try {
      const response = await fetch(this.endpoint, {
        method: "POST",
        headers: { authorization: this.authorization, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }),
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`status ${response.status}`);
      }
      const answer: unknown = await response.json();
      if (typeof answer !== "object" || answer === null || typeof (answer as { active?: unknown }).active !== "boolean") {
        throw new Error("the answer is not an introspection response");
      }
      return answer as Record<string, unknown>;
    } catch (error) {
      log.warn("token introspection failed", { endpoint: this.endpoint, error: describeFailure(error) });
      throw new BadGateway("token introspection failed", "introspection_unavailable");
    }
  }

  private principalFrom(claims: Record<string, unknown>, token: string, now: number): Principal {
    if (claims.active !== true) throw new InvalidToken("the access token is not active", "token_inactive");
    // oidc-provider names the type of access tokens only ("Bearer", or "DPoP" for one bound to a key, with
    // its cnf kept in the claims: the pipeline asks for a proof of that key); a refresh token has none.
    const type = optionalString(claims.token_type)?.toLowerCase();
    if (type !== "bearer" && type !== "dpop") {
      throw new InvalidToken("the token is not an access token", "token_not_access_token");
    }
    const subject = optionalString(claims.sub) ?? optionalString(claims.client_id);
    if (subject === undefined) throw new InvalidToken("the access token has no subject", "claim_missing");
    return {
      subject,
      clientId: optionalString(claims.client_id),
      scopes: scopesOf(claims),
      issuer: optionalString(claims.iss) ?? new URL(this.endpoint).origin,
      claims,
      expiresAt: typeof claims.exp === "number" ? claims.exp : Math.floor((now + this.cacheTtlMs) / 1000),
      token,
    };
  }
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined for Basic. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, "+");
}
