// The JWT bearer assertion grant (RFC 7523 §2.1): a client trades a JWT signed by a trusted assertion
// issuer for Gatehouse tokens. The checks, in order, each refusing with invalid_grant that names it:
// a compact JWS (no JWE, no unsecured JWT), a trusted issuer that lets this client present its
// assertions, an asymmetric algorithm the issuer allows (never none, never HMAC: RFC 8725 §3.1-3.2), not
// typed as another kind of JWT (RFC 8725 §3.11), the signature with the issuer's keys (inline, or its
// jwks_uri through the process's RemoteKeySets with refetch on an unknown kid), aud naming Gatehouse's
// issuer or token endpoint (RFC 7523 §3 item 3), exp present and no further away than the issuer's
// longest assertion lifetime, nbf and iat not in the future (both with ASSERTION_CLOCK_SKEW), sub
// present, jti present and used once (grants/assertion.ts).
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { invalidGrant } from "./invalid-grant.ts";
import type { AssertionIssuerRecord } from "../../storage/index.ts";
import { JWT_BEARER } from "../../services/grant-rules.ts";
import { KeySetUnavailable, jwtFailure, type RemoteKeySets } from "../../shared/remote-key-sets.ts";
import { log } from "../../shared/logger.ts";
import { acceptedAudiences, assertionParameter, issueForAssertion, trustedIssuer, type AssertionDeps, type CheckedAssertion } from "./assertion.ts";

export { JWT_BEARER };

/** typ values of a JWT that is meant as an assertion (absent is fine too). */
const ASSERTION_TYPES = new Set(["jwt", "application/jwt"]);

/** Longest jti looked at, in characters. */
const MAX_JTI_LENGTH = 256;

/** Inline key sets, compiled once per loaded issuer record (a reload brings new records). */
const localKeySets = new WeakMap<AssertionIssuerRecord, JWTVerifyGetKey>();

function keysOf(issuer: AssertionIssuerRecord, remoteKeySets: RemoteKeySets): JWTVerifyGetKey {
  if (issuer.jwksUri) return remoteKeySets.resolver(issuer.jwksUri);
  let keys = localKeySets.get(issuer);
  if (!keys) {
    keys = createLocalJWKSet(issuer.jwks as Parameters<typeof createLocalJWKSet>[0]);
    localKeySets.set(issuer, keys);
  }
  return keys;
}

/** 503 temporarily_unavailable: the issuer's keys could not be fetched; the assertion may be good. */
function keysUnavailable(): errors.CustomOIDCProviderError {
  const error = new errors.CustomOIDCProviderError("temporarily_unavailable", "the assertion issuer's keys could not be fetched, try again shortly");
  Object.assign(error, { status: 503, statusCode: 503, expose: true });
  return error;
}

/** invalid_grant naming the check jose refused; never the assertion. */
function refusal(error: unknown, audiences: string[]): Error {
  const failure = jwtFailure(error);
  switch (failure?.reason) {
    case "token_expired":
      return invalidGrant("the assertion has expired (exp)");
    case "token_not_yet_valid":
      return invalidGrant("the assertion is not valid yet (nbf)");
    case "audience_mismatch":
      return invalidGrant(`the assertion's aud must name ${audiences.join(" or ")}`);
    case "issuer_untrusted":
      return invalidGrant("the assertion's issuer is not a trusted issuer");
    case "claim_missing":
      return invalidGrant(`the assertion has no ${failure.claim} claim`);
    case "algorithm_not_allowed":
      return invalidGrant("the assertion's signature algorithm is not accepted for this issuer");
    case "signature_invalid":
      return invalidGrant("the assertion's signature does not verify with the issuer's keys");
    case "kid_unknown":
      return invalidGrant("the assertion's kid names no key of its issuer");
    case "kid_ambiguous":
      return invalidGrant("the assertion names no kid and its issuer has several keys");
    default:
      return invalidGrant("the assertion is malformed");
  }
}

/**
 * The grant's handler for provider.registerGrantType.
 * @throws errors.InvalidRequest without assertion; errors.InvalidGrant for any failed check; 503
 *   temporarily_unavailable when the issuer's jwks_uri cannot be fetched; whatever issueTokens throws
 */
export function jwtBearerGrant(deps: AssertionDeps & { remoteKeySets: RemoteKeySets }) {
  return async function jwtBearerGrantHandler(ctx: KoaContextWithOIDC): Promise<void> {
    const checked = await checkJwtAssertion(ctx, deps, assertionParameter(ctx));
    await issueForAssertion(ctx, deps, checked, JWT_BEARER);
  };
}

/**
 * Every check of a JWT assertion of a trusted issuer but its single use (the header comment's list):
 * the JWT bearer grant's, and the token exchange grant's for a subject token of such an issuer.
 * @throws errors.InvalidGrant naming the failed check; 503 temporarily_unavailable when the issuer's
 *   jwks_uri cannot be fetched
 */
export async function checkJwtAssertion(ctx: KoaContextWithOIDC, deps: AssertionDeps & { remoteKeySets: RemoteKeySets }, assertion: string): Promise<CheckedAssertion> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      if (assertion.split(".").length !== 3) throw new Error("not a compact JWS");
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      throw invalidGrant("the assertion is not a signed JWT (RFC 7523 §3)");
    }
    const issuer = await trustedIssuer(ctx, deps.catalog, claims.iss, "jwt");
    if (typeof header.alg !== "string" || !issuer.algorithms.includes(header.alg)) {
      throw invalidGrant(`the assertion's signature algorithm is not accepted for this issuer (accepted: ${issuer.algorithms.join(", ")})`);
    }
    if (header.typ !== undefined && !ASSERTION_TYPES.has(String(header.typ).toLowerCase())) {
      throw invalidGrant("the assertion is typed as another kind of JWT (typ)");
    }

    const audiences = acceptedAudiences(ctx);
    const skew = deps.clockSkewSeconds;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(assertion, keysOf(issuer, deps.remoteKeySets), {
        algorithms: issuer.algorithms,
        issuer: issuer.issuer,
        audience: audiences,
        clockTolerance: skew,
        requiredClaims: ["exp", "sub", "jti"],
      }));
    } catch (error) {
      if (error instanceof KeySetUnavailable) {
        log.warn("assertion issuer keys unavailable", { issuer: issuer.issuer, jwks_uri: error.jwksUri, error: String((error.cause as Error)?.message ?? error.cause) });
        throw keysUnavailable();
      }
      if (!(error instanceof joseErrors.JOSEError)) throw error;
      throw refusal(error, audiences);
    }

    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp!;
    if (exp - now > issuer.maxAssertionLifetime + skew) {
      throw invalidGrant(`the assertion's exp is further away than this issuer's longest assertion lifetime (${issuer.maxAssertionLifetime} seconds)`);
    }
    if (typeof payload.iat === "number") {
      if (payload.iat > now + skew) throw invalidGrant("the assertion's iat is in the future");
      if (exp - payload.iat > issuer.maxAssertionLifetime) {
        throw invalidGrant(`the assertion's lifetime (exp - iat) is longer than this issuer's longest assertion lifetime (${issuer.maxAssertionLifetime} seconds)`);
      }
    }
    const { sub, jti } = payload;
    if (typeof sub !== "string" || sub === "") throw invalidGrant("the assertion has no sub claim");
    if (typeof jti !== "string" || jti === "" || jti.length > MAX_JTI_LENGTH) throw invalidGrant("the assertion's jti must be a string of 1 to 256 characters");

    return { issuer, subject: sub, id: jti, expiresAt: new Date((exp + skew) * 1000) };
}
