// Gatehouse's own JWT access tokens (RFC 9068), checked in-process: signature with Gatehouse's public
// keys, typ at+jwt, iss, aud, exp/nbf/iat with a little clock tolerance, and the revocation list (jti,
// grant, client and user not-before marks). Used wherever the authorization server itself must accept
// one of its access tokens: JWT introspection and the admin API.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { RevocationList } from "./revocation-list.ts";

/** The asymmetric algorithms Gatehouse signs with (services/keys.ts SIGNING_ALGS). */
export const OWN_SIGNING_ALGORITHMS = ["ES256", "RS256", "EdDSA"];

export interface OwnAccessTokenOptions {
  issuer: string;
  /** Gatehouse's current public JWKS; return the same object until the keys change. */
  keys: () => JSONWebKeySet;
  revocations: RevocationList;
  /** Seconds. */
  clockToleranceSeconds?: number;
}

export class OwnAccessTokens {
  private readonly options: OwnAccessTokenOptions;
  private current: { source: JSONWebKeySet; keys: JWTVerifyGetKey } | undefined;

  constructor(options: OwnAccessTokenOptions) {
    this.options = options;
  }

  /**
   * The claims of a valid, unrevoked access token of Gatehouse's; undefined for anything else (another
   * issuer's, expired, revoked, an ID token, garbage).
   * @param audience when given, the token must be meant for it
   */
  async verify(token: string, audience?: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.keySet(), {
        issuer: this.options.issuer,
        typ: "at+jwt",
        algorithms: OWN_SIGNING_ALGORITHMS,
        requiredClaims: ["exp", "iat", "client_id"],
        clockTolerance: this.options.clockToleranceSeconds ?? 0,
        ...(audience ? { audience } : {}),
      });
      return this.options.revocations.refuses(payload) ? undefined : payload;
    } catch {
      return undefined;
    }
  }

  /** Rebuilt only when keys() hands back a different object, i.e. after a key rotation. */
  private keySet(): JWTVerifyGetKey {
    const source = this.options.keys();
    if (this.current?.source !== source) this.current = { source, keys: createLocalJWKSet(source) };
    return this.current.keys;
  }
}
