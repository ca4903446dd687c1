// Authenticator "jwt": JWT access tokens (RFC 9068) checked in-process. The unverified "iss" only
// picks the keys: Gatehouse's own (shared/own-access-tokens.ts) or, for an API that trusts another
// issuer, that issuer's JWKS (shared/remote-key-sets.ts). Then the one access-token verification checks
// signature, algorithm, typ, iss, aud and the times; a verified token is cached per API until it
// expires, while Gatehouse's revocation list is consulted on every request so a revoked token is
// refused as soon as this instance learns of it.
import { decodeJwt, type JWTVerifyGetKey } from "jose";
import { log } from "../../shared/logger.ts";
import { TokenNotYetValid, verifyAccessTokenJwt, type OwnAccessTokens } from "../../shared/own-access-tokens.ts";
import { jwtFailure, KeySetUnavailable, type JwtFailureReason, type RemoteKeySets } from "../../shared/remote-key-sets.ts";
import type { ApiRecord } from "../../storage/repositories/apis.ts";
import { BadGateway, GatewayError, InvalidToken } from "../errors.ts";
import type { Principal } from "../types.ts";
import { optionalString, refuseSenderConstrained, scopesOf } from "./claims.ts";
import { describeFailure } from "./failure.ts";
import { VerifiedTokenCache } from "./verified-token-cache.ts";

export interface JwtAuthenticatorOptions {
  /** Gatehouse's own tokens: its issuer, keys and revocation list. */
  ownTokens: OwnAccessTokens;
  clockToleranceSeconds: number;
  /** Where the JWKS of the issuers APIs trust come from. */
  remoteKeySets: RemoteKeySets;
  /** Default: a cache of 10,000 tokens kept at most one hour. */
  cache?: VerifiedTokenCache;
}

/** An HMAC "key" could be built from a published public key, and "none" is no signature at all. */
const FORBIDDEN_ALGORITHMS = /^(none|HS\d+)$/i;

interface KeySource {
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
}

export class JwtAuthenticator {
  private readonly options: JwtAuthenticatorOptions;
  private readonly cache: VerifiedTokenCache;
  private verifications = 0;
  private cacheHits = 0;

  constructor(options: JwtAuthenticatorOptions) {
    if (!(options.clockToleranceSeconds >= 0)) throw new RangeError("JwtAuthenticator: clockToleranceSeconds must be zero or more");
    this.options = options;
    this.cache = options.cache ?? new VerifiedTokenCache({ maxTtlSeconds: 3600 });
  }

  /** Signature verifications attempted and cache hits, for tests and metrics. */
  get stats(): { verifications: number; cacheHits: number } {
    return { verifications: this.verifications, cacheHits: this.cacheHits };
  }

  /** The principal of a valid access token for this API; throws InvalidToken (401) or BadGateway (502, keys unavailable). */
  async authenticate(token: string, api: ApiRecord): Promise<Principal> {
    return this.cached(token, api) ?? this.verifyAndRemember(token, api);
  }

  /**
   * The principal of a token verified before, without awaiting anything (the gateway's hot path);
   * undefined when the token has to be verified. Throws when it has been revoked since.
   */
  cached(token: string, api: ApiRecord): Principal | undefined {
    // Per API: the audience and the trusted issuers differ from one API to the next.
    const key = VerifiedTokenCache.key(token, api.identifier);
    const principal = this.cache.get(key);
    if (!principal || !this.isTrusted(principal.issuer, api)) return undefined;
    this.cacheHits++;
    this.refuseRevoked(principal, key);
    return principal;
  }

  private async verifyAndRemember(token: string, api: ApiRecord): Promise<Principal> {
    const key = VerifiedTokenCache.key(token, api.identifier);
    const principal = await this.verify(token, api);
    this.cache.set(key, principal, principal.expiresAt * 1000);
    this.refuseRevoked(principal, key);
    return principal;
  }

  private refuseRevoked(principal: Principal, key: string): void {
    if (this.isRevoked(principal)) {
      this.cache.delete(key);
      throw new InvalidToken("the access token has been revoked", "token_revoked");
    }
  }

  private async verify(token: string, api: ApiRecord): Promise<Principal> {
    const issuer = unverifiedIssuer(token, api);
    const source = this.keySource(issuer, api);
    const tolerance = this.options.clockToleranceSeconds;
    this.verifications++;
    let claims: Record<string, unknown>;
    try {
      claims = await verifyAccessTokenJwt(token, source.keys, { issuer, audience: api.identifier, algorithms: source.algorithms, clockToleranceSeconds: tolerance });
    } catch (error) {
      throw refusal(error);
    }
    if (typeof claims.sub !== "string") throw new InvalidToken("malformed access token", "token_malformed");
    refuseSenderConstrained(claims);
    return {
      subject: claims.sub,
      clientId: optionalString(claims.client_id),
      scopes: scopesOf(claims),
      issuer,
      claims,
      expiresAt: claims.exp as number,
      token,
    };
  }

  private isTrusted(issuer: string, api: ApiRecord): boolean {
    return issuer === this.options.ownTokens.issuer || api.trustedIssuers.some((trusted) => trusted.issuer === issuer);
  }

  private keySource(issuer: string, api: ApiRecord): KeySource {
    const own = this.options.ownTokens;
    if (issuer === own.issuer) return { keys: own.keySet(), algorithms: own.check().algorithms };
    const trusted = api.trustedIssuers.find((candidate) => candidate.issuer === issuer);
    if (!trusted) throw new InvalidToken("the access token's issuer is not trusted by this API", "issuer_untrusted");
    return { keys: this.options.remoteKeySets.resolver(trusted.jwksUri), algorithms: trusted.algorithms.filter((alg) => !FORBIDDEN_ALGORITHMS.test(alg)) };
  }

  /** The revocation list is Gatehouse's: it names Gatehouse's tokens and grants only. */
  private isRevoked(principal: Principal): boolean {
    return principal.issuer === this.options.ownTokens.issuer && this.options.ownTokens.revoked(principal.claims);
  }
}

function unverifiedIssuer(token: string, api: ApiRecord): string {
  // An opaque token (no JWS compact form) is most often one requested without resource=<this API>.
  if (token.split(".").length !== 3) {
    throw new InvalidToken(`the access token is not a JWT, and this API accepts JWT access tokens: request it with resource=${api.identifier}`, "token_not_jwt");
  }
  let iss: unknown;
  try {
    ({ iss } = decodeJwt(token));
  } catch {
    throw new InvalidToken("malformed access token", "token_malformed");
  }
  if (typeof iss !== "string") throw new InvalidToken("the access token has no issuer", "claim_missing");
  return iss;
}

/** What the caller is told for each of jose's refusals. */
const DESCRIPTIONS: Record<JwtFailureReason, string> = {
  token_expired: "the access token has expired",
  token_not_yet_valid: "the access token is not valid yet",
  typ_mismatch: "the token is not an access token",
  audience_mismatch: "the access token is not meant for this API",
  issuer_untrusted: "the access token's issuer is not trusted by this API",
  claim_missing: "the access token lacks a required claim",
  token_malformed: "malformed access token",
  algorithm_not_allowed: "the access token's signing algorithm is not accepted",
  signature_invalid: "the access token's signature is invalid",
  kid_unknown: "the access token's signing key is unknown",
  kid_ambiguous: "the access token does not name its signing key",
};

/** A verification failure → the gateway's refusal, with a stable reason id. */
function refusal(error: unknown): unknown {
  if (error instanceof GatewayError) return error;
  if (error instanceof TokenNotYetValid) return new InvalidToken("the access token is not valid yet", "token_not_yet_valid");
  if (error instanceof KeySetUnavailable) {
    log.warn("jwks unavailable", { jwksUri: error.jwksUri, error: describeFailure(error.cause) });
    return new BadGateway("the token issuer's keys could not be fetched", "jwks_unavailable");
  }
  const failure = jwtFailure(error);
  if (!failure) return error;
  const description = failure.reason === "claim_missing" && failure.claim ? `the access token has no "${failure.claim}" claim` : DESCRIPTIONS[failure.reason];
  return new InvalidToken(description, failure.reason);
}
