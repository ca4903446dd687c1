// Authenticator "jwt": JWT access tokens (RFC 9068) checked in-process. The unverified "iss" only
// picks the keys: Gatehouse's own (shared/own-access-tokens.ts) or, for an API that trusts another
// issuer, that issuer's JWKS (shared/remote-key-sets.ts). Then the access-token verification checks
// signature, algorithm, typ, iss, aud and the times; a verified token is cached per API until it
// expires, while Gatehouse's revocation list is consulted on every request so a revoked token is
// refused as soon as this instance learns of it.
//
// The token type (RFC 8725 §3.11): Gatehouse's own tokens must say typ "at+jwt". Most identity
// providers' access tokens do not (Microsoft Entra ID, Keycloak and Auth0 say "JWT", Okta and Amazon
// Cognito say nothing), so a trusted issuer's token may carry any of the types its tokenTypes setting
// lists: "at+jwt", "jwt" (typ JWT) and "none" (no typ), all three by default. A token typed at+jwt is
// what it says; one that is not must also not look like that issuer's ID token (RFC 9068 §4): it is
// refused when it carries at_hash, c_hash or s_hash (ID token claims only, OpenID Connect Core §3.1.3.6,
// §3.3.2.11, FAPI), a "typ" claim other than "Bearer" (Keycloak types its ID tokens "ID" and its refresh
// tokens "Refresh"), or a nonce without Keycloak's "Bearer" (Keycloak before 24 puts the nonce in
// access tokens too). Its aud must name the API, as always: an ID token's is a client id.
import { decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { log } from "../../shared/logger.ts";
import { TokenNotYetValid, verifyAccessTokenJwt, type AccessTokenCheck, type OwnAccessTokens } from "../../shared/own-access-tokens.ts";
import { jwtFailure, KeySetUnavailable, type JwtFailureReason, type RemoteKeySets } from "../../shared/remote-key-sets.ts";
import { TRUSTED_TOKEN_TYPES, type ApiRecord, type TrustedIssuer } from "../../storage/repositories/apis.ts";
import { BadGateway, GatewayError, InvalidToken } from "../errors.ts";
import type { Principal } from "../types.ts";
import { optionalString, scopesOf } from "./claims.ts";
import { describeFailure } from "./failure.ts";
import { VerifiedTokenCache } from "../../shared/verified-token-cache.ts";

export interface JwtAuthenticatorOptions {
  /** Gatehouse's own tokens: its issuer, keys and revocation list. */
  ownTokens: OwnAccessTokens;
  clockToleranceSeconds: number;
  /** Where the JWKS of the issuers APIs trust come from. */
  remoteKeySets: RemoteKeySets;
  /** Default: a cache of 10,000 tokens kept at most one hour. */
  cache?: VerifiedTokenCache<Principal>;
}

/** An HMAC "key" could be built from a published public key, and "none" is no signature at all. */
const FORBIDDEN_ALGORITHMS = /^(none|HS\d+)$/i;

/** The typ header values a trusted issuer's access tokens may carry: "at+jwt", "JWT", or none at all. */
export type TokenType = (typeof TRUSTED_TOKEN_TYPES)[number];

const TOKEN_TYPES: readonly TokenType[] = TRUSTED_TOKEN_TYPES;

/**
 * A trusted issuer as the gateway reads it: tokenTypes (absent: every TokenType) lists the typ values
 * accepted from it; ["at+jwt"] holds it to RFC 9068 like Gatehouse's own tokens.
 */
export type TrustedIssuerSettings = TrustedIssuer;

interface KeySource {
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
  /** Accepted token types; undefined: Gatehouse's own, typ at+jwt only. */
  tokenTypes?: readonly TokenType[];
}

export class JwtAuthenticator {
  private readonly options: JwtAuthenticatorOptions;
  private readonly cache: VerifiedTokenCache<Principal>;
  private verifications = 0;
  private cacheHits = 0;
  /** Gatehouse's key set the cached tokens were verified against (OwnAccessTokens.keySet: a new object when the keys change). */
  private ownKeys: JWTVerifyGetKey | undefined;

  constructor(options: JwtAuthenticatorOptions) {
    if (!(options.clockToleranceSeconds >= 0)) throw new RangeError("JwtAuthenticator: clockToleranceSeconds must be zero or more");
    this.options = options;
    this.cache = options.cache ?? new VerifiedTokenCache<Principal>({ maxTtlSeconds: 3600 });
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
    this.forgetIfOwnKeysChanged();
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
    this.forgetIfOwnKeysChanged();
    const keysBefore = this.ownKeys;
    const principal = await this.verify(token, api);
    // Not kept when Gatehouse's keys changed while it was checked: its key may have just been taken out.
    this.forgetIfOwnKeysChanged();
    if (this.ownKeys === keysBefore) this.cache.set(key, principal, principal.expiresAt * 1000);
    this.refuseRevoked(principal, key);
    return principal;
  }

  /**
   * When Gatehouse's signing keys change, the tokens verified with the previous set are forgotten: a
   * key taken out of the set no longer vouches for them (the next request verifies again).
   */
  private forgetIfOwnKeysChanged(): void {
    const keys = this.options.ownTokens.keySet();
    if (keys === this.ownKeys) return;
    if (this.ownKeys) this.cache.clear();
    this.ownKeys = keys;
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
    const check = { issuer, audience: api.identifier, algorithms: source.algorithms, clockToleranceSeconds: tolerance };
    try {
      claims = source.tokenTypes ? await verifyTrustedAccessToken(token, source.keys, check, source.tokenTypes) : await verifyAccessTokenJwt(token, source.keys, check);
    } catch (error) {
      throw refusal(error);
    }
    if (typeof claims.sub !== "string") throw new InvalidToken("malformed access token", "token_malformed");
    // A key-bound token (cnf) is checked by the pipeline: with the DPoP scheme and a proof only (dpop.ts).
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
    const trusted: TrustedIssuerSettings | undefined = api.trustedIssuers.find((candidate) => candidate.issuer === issuer);
    if (!trusted) throw new InvalidToken("the access token's issuer is not trusted by this API", "issuer_untrusted");
    return {
      keys: this.options.remoteKeySets.resolver(trusted.jwksUri),
      algorithms: trusted.algorithms.filter((alg) => !FORBIDDEN_ALGORITHMS.test(alg)),
      // A setting that names no known type accepts nothing, rather than everything.
      tokenTypes: Array.isArray(trusted.tokenTypes) ? TOKEN_TYPES.filter((type) => trusted.tokenTypes!.includes(type)) : TOKEN_TYPES,
    };
  }

  /** The revocation list is Gatehouse's: it names Gatehouse's tokens and grants only. */
  private isRevoked(principal: Principal): boolean {
    return principal.issuer === this.options.ownTokens.issuer && this.options.ownTokens.revoked(principal.claims);
  }
}

/**
 * A trusted issuer's access token: what verifyAccessTokenJwt checks (signature, algorithm, iss, aud,
 * exp/nbf/iat, exp, iat and sub present), with a typ among tokenTypes instead of at+jwt only, and, for a
 * token not typed at+jwt, none of an ID token's marks (the top of this file).
 * @throws jose's errors, TokenNotYetValid, or InvalidToken ("typ_mismatch")
 */
async function verifyTrustedAccessToken(token: string, keys: JWTVerifyGetKey, check: AccessTokenCheck, tokenTypes: readonly TokenType[]): Promise<JWTPayload> {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer: check.issuer,
    audience: check.audience,
    algorithms: [...check.algorithms],
    requiredClaims: ["exp", "iat", "sub"],
    clockTolerance: check.clockToleranceSeconds,
  });
  if ((payload.iat as number) > Date.now() / 1000 + check.clockToleranceSeconds) throw new TokenNotYetValid("the token's iat is in the future");
  const type = tokenType(protectedHeader.typ);
  if (type === undefined || !tokenTypes.includes(type) || (type !== "at+jwt" && looksLikeIdToken(payload))) {
    throw new InvalidToken(DESCRIPTIONS.typ_mismatch, "typ_mismatch");
  }
  return payload;
}

/** A typ header value as a TokenType (RFC 7515 §4.1.9: without case, "application/" optional); undefined for any other type. */
function tokenType(typ: unknown): TokenType | undefined {
  if (typ === undefined) return "none";
  if (typeof typ !== "string") return undefined;
  const type = typ.toLowerCase().replace(/^application\//, "");
  return type === "at+jwt" || type === "jwt" ? type : undefined;
}

/** Claims that only an ID token (or another token that is not an access token) carries. */
function looksLikeIdToken(payload: JWTPayload): boolean {
  if (payload.at_hash !== undefined || payload.c_hash !== undefined || payload.s_hash !== undefined) return true;
  const bearer = typeof payload.typ === "string" && payload.typ.toLowerCase() === "bearer";
  if (payload.typ !== undefined && !bearer) return true;
  return payload.nonce !== undefined && !bearer;
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
