// JWT access tokens (RFC 9068) checked in-process: one verification for every place that accepts them —
// the gateway (Gatehouse's own tokens and trusted issuers'), JWT introspection, token info, the admin API.
// OwnAccessTokens adds what is Gatehouse's alone: its keys and its revocation list (jti, grant, and the
// client and user not-before marks), and remembers the tokens it verified (VerifiedTokenCache: hashed,
// until exp, forgotten when the keys change), so that a token introspected or shown again costs no
// second signature verification; the revocation list is asked every time.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { SIGNING_ALGORITHMS } from "./algorithms.ts";
import type { RevocationList } from "./revocation-list.ts";
import { VerifiedTokenCache } from "./verified-token-cache.ts";

/** A token whose iat is ahead of the clock (jose checks iat only with a maximum age). */
export class TokenNotYetValid extends Error {}

export interface AccessTokenCheck {
  issuer: string;
  /** When given, the token must be meant for it. */
  audience?: string;
  algorithms: readonly string[];
  /** Seconds of clock skew tolerated on exp, nbf and iat. */
  clockToleranceSeconds: number;
}

/**
 * Verifies an access token JWT: signature with `keys` and one of `algorithms`, typ at+jwt, iss, aud,
 * exp/nbf/iat within the tolerance, and exp, iat and sub present.
 * @throws jose's errors (map them with remote-key-sets.ts jwtFailure), or TokenNotYetValid
 */
export async function verifyAccessTokenJwt(token: string, keys: JWTVerifyGetKey, check: AccessTokenCheck): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, keys, {
    issuer: check.issuer,
    algorithms: [...check.algorithms],
    typ: "at+jwt",
    requiredClaims: ["exp", "iat", "sub"],
    clockTolerance: check.clockToleranceSeconds,
    ...(check.audience ? { audience: check.audience } : {}),
  });
  if ((payload.iat as number) > Date.now() / 1000 + check.clockToleranceSeconds) throw new TokenNotYetValid("the token's iat is in the future");
  return payload;
}

export interface OwnAccessTokenOptions {
  issuer: string;
  /** Gatehouse's current public JWKS; return the same object until the keys change. */
  keys: () => JSONWebKeySet;
  revocations: Pick<RevocationList, "refuses">;
  /** Seconds; default 0. */
  clockToleranceSeconds?: number;
  /** Verified tokens remembered (default 10,000), each until its exp and for at most an hour. */
  cacheEntries?: number;
}

export class OwnAccessTokens {
  readonly issuer: string;
  private readonly options: OwnAccessTokenOptions;
  private current: { source: JSONWebKeySet; keys: JWTVerifyGetKey } | undefined;
  /** Claims of tokens verified with the current keys, by hash of token and audience. */
  private readonly verified: VerifiedTokenCache<JWTPayload>;
  /** Signature verifications run (for tests and metrics). */
  verifications = 0;

  constructor(options: OwnAccessTokenOptions) {
    this.options = options;
    this.issuer = options.issuer;
    this.verified = new VerifiedTokenCache<JWTPayload>({ maxTtlSeconds: 3600, maxEntries: options.cacheEntries ?? 10_000 });
  }

  /**
   * The claims of a valid, unrevoked access token of Gatehouse's; undefined for anything else (another
   * issuer's, expired, revoked, an ID token, garbage).
   * @param audience when given, the token must be meant for it
   */
  async verify(token: string, audience?: string): Promise<JWTPayload | undefined> {
    const keys = this.keySet();
    const key = VerifiedTokenCache.key(token, audience ?? "");
    let payload = this.verified.get(key);
    if (!payload) {
      try {
        this.verifications++;
        payload = await verifyAccessTokenJwt(token, keys, this.check(audience));
      } catch {
        return undefined;
      }
      // Until exp: the cache's own expiry stands in for jose's exp check on the next calls. Not when the
      // keys changed while this one was checked: the key that signed it may have just been taken out.
      if (this.current?.keys === keys) this.verified.set(key, payload, (payload.exp as number) * 1000);
    }
    return this.revoked(payload) ? undefined : payload;
  }

  /** What verifyAccessTokenJwt needs for a token of Gatehouse's. */
  check(audience?: string): AccessTokenCheck {
    return { issuer: this.issuer, audience, algorithms: SIGNING_ALGORITHMS, clockToleranceSeconds: this.options.clockToleranceSeconds ?? 0 };
  }

  /** Whether the revocation list refuses these claims (a jti, a grant, a client's or user's not-before mark). */
  revoked(claims: JWTPayload): boolean {
    return this.options.revocations.refuses(claims);
  }

  /**
   * Gatehouse's public keys as a jose key resolver, rebuilt only when keys() hands back a different
   * object; then the tokens verified with the previous keys are forgotten (a key taken out of the set
   * no longer vouches for them).
   */
  keySet(): JWTVerifyGetKey {
    const source = this.options.keys();
    if (this.current?.source !== source) {
      this.current = { source, keys: createLocalJWKSet(source) };
      this.verified.clear();
    }
    return this.current.keys;
  }
}
