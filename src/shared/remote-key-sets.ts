// Other issuers' signing keys: each JWKS URL fetched over HTTP, kept for a while, and fetched again when
// a token names a key the kept set does not have (OpenID Connect Core §10.1.1: an issuer rotates by
// publishing a new key and signing with it at once). One registry per process, shared by every verifier
// (the gateway's trusted issuers; JWT assertions at the authorization server), and the one mapping of
// jose's verification errors to reason ids.
//
// Unlike jose's createRemoteJWKSet, whose cooldown also counts the first fetch (a key rotated within the
// cooldown after that fetch is refused until it ends), the cooldown here only spaces out fetches caused
// by unknown kids: a flood of made-up kids costs at most one fetch per cooldown, a real rotation is seen
// by the first token that uses it.
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

export interface RemoteKeySetsOptions {
  /** Least time between two fetches of one JWKS caused by an unknown kid, in seconds. */
  cooldownSeconds: number;
  /** Longest use of a fetched set before it is fetched again, in seconds; default 600. */
  maxAgeSeconds?: number;
  /** Limit for one fetch, response body included, in milliseconds; default 5000. */
  timeoutMs?: number;
}

/** The JWKS could not be fetched, or what came back is not a key set (the cause says why): the token may well be good. */
export class KeySetUnavailable extends Error {
  readonly jwksUri: string;

  constructor(jwksUri: string, options?: ErrorOptions) {
    super(`the signing keys at ${jwksUri} could not be fetched`, options);
    this.jwksUri = jwksUri;
  }
}

interface KeySet {
  keys: JWTVerifyGetKey | undefined;
  /** When keys were fetched, epoch ms. */
  fetchedAt: number;
  /** When an unknown kid last caused a fetch, epoch ms. */
  missFetchAt: number;
  fetching: Promise<void> | undefined;
}

export class RemoteKeySets {
  readonly #cooldownMs: number;
  readonly #maxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #resolvers = new Map<string, JWTVerifyGetKey>();
  #fetches = 0;

  constructor(options: RemoteKeySetsOptions) {
    if (!(options.cooldownSeconds >= 0)) throw new RangeError("RemoteKeySets: cooldownSeconds must be zero or more");
    const maxAgeSeconds = options.maxAgeSeconds ?? 600;
    if (!(maxAgeSeconds > 0)) throw new RangeError("RemoteKeySets: maxAgeSeconds must be positive");
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!(timeoutMs > 0)) throw new RangeError("RemoteKeySets: timeoutMs must be positive");
    this.#cooldownMs = options.cooldownSeconds * 1000;
    this.#maxAgeMs = maxAgeSeconds * 1000;
    this.#timeoutMs = timeoutMs;
  }

  /** JWKS fetches started, for tests and metrics. */
  get stats(): { fetches: number } {
    return { fetches: this.#fetches };
  }

  /**
   * jose's key resolver for the JWKS at jwksUri (the same function for the same URL). It rejects with
   * KeySetUnavailable when the set cannot be had, and with jose's JWKSNoMatchingKey when the token's kid
   * is still unknown after the refetch it may cause.
   */
  resolver(jwksUri: string): JWTVerifyGetKey {
    let resolver = this.#resolvers.get(jwksUri);
    if (!resolver) {
      const set: KeySet = { keys: undefined, fetchedAt: 0, missFetchAt: -Infinity, fetching: undefined };
      resolver = (header, token) => this.#key(jwksUri, set, header, token);
      this.#resolvers.set(jwksUri, resolver);
    }
    return resolver;
  }

  async #key(jwksUri: string, set: KeySet, ...args: Parameters<JWTVerifyGetKey>): Promise<Awaited<ReturnType<JWTVerifyGetKey>>> {
    // A set fetched for this very call is as fresh as it gets: a kid it lacks is unknown.
    const fetchedNow = !set.keys || Date.now() - set.fetchedAt >= this.#maxAgeMs;
    if (fetchedNow) await this.#refresh(jwksUri, set);
    try {
      return await set.keys!(...args);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || fetchedNow) throw error;
      if (set.fetching) {
        // Someone is fetching already (a newer set on its way): wait for it instead of fetching again.
        await set.fetching;
      } else {
        const now = Date.now();
        if (now - set.missFetchAt < this.#cooldownMs) throw error;
        set.missFetchAt = now;
        await this.#refresh(jwksUri, set);
      }
      return set.keys!(...args);
    }
  }

  /** One fetch at a time per set; concurrent callers share it. */
  #refresh(jwksUri: string, set: KeySet): Promise<void> {
    set.fetching ??= this.#fetch(jwksUri).then(
      (keys) => {
        set.keys = keys;
        set.fetchedAt = Date.now();
      },
      (error: unknown) => {
        throw new KeySetUnavailable(jwksUri, { cause: error });
      },
    ).finally(() => (set.fetching = undefined));
    return set.fetching;
  }

  async #fetch(jwksUri: string): Promise<JWTVerifyGetKey> {
    this.#fetches++;
    const response = await fetch(jwksUri, {
      headers: { accept: "application/json, application/jwk-set+json" },
      // A JWKS URL is configured by an administrator; a redirect elsewhere is not followed.
      redirect: "manual",
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`status ${response.status}`);
    }
    // createLocalJWKSet checks the shape and does every key selection and import: no crypto by hand here.
    return createLocalJWKSet((await response.json()) as JSONWebKeySet);
  }
}

/** Why jose refused a JWT, as a stable reason id; each caller words its own error for it. */
export type JwtFailureReason =
  | "token_expired"
  | "token_not_yet_valid"
  | "typ_mismatch"
  | "audience_mismatch"
  | "issuer_untrusted"
  | "claim_missing"
  | "token_malformed"
  | "algorithm_not_allowed"
  | "signature_invalid"
  | "kid_unknown"
  | "kid_ambiguous";

/** jose's verification error → its reason id (and the claim at fault); undefined for anything else. */
export function jwtFailure(error: unknown): { reason: JwtFailureReason; claim?: string } | undefined {
  if (error instanceof errors.JWTExpired) return { reason: "token_expired" };
  if (error instanceof errors.JWTClaimValidationFailed) return { reason: claimFailure(error), claim: error.claim };
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return { reason: "algorithm_not_allowed" };
  if (error instanceof errors.JWSSignatureVerificationFailed) return { reason: "signature_invalid" };
  if (error instanceof errors.JWKSNoMatchingKey) return { reason: "kid_unknown" };
  if (error instanceof errors.JWKSMultipleMatchingKeys) return { reason: "kid_ambiguous" };
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return { reason: "token_malformed" };
  return undefined;
}

function claimFailure(error: errors.JWTClaimValidationFailed): JwtFailureReason {
  if (error.claim === "typ") return "typ_mismatch";
  if (error.claim === "aud") return "audience_mismatch";
  if (error.claim === "iss") return "issuer_untrusted";
  if (error.claim === "nbf") return "token_not_yet_valid";
  if (error.reason === "missing") return "claim_missing";
  return "token_malformed";
}
