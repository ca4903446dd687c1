// Other issuers' signing keys: each JWKS URL fetched over HTTP, kept for a while, and fetched again when
// a token names a key the kept set does not have (OpenID Connect Core §10.1.1: an issuer rotates by
// publishing a new key and signing with it at once). One registry per process, shared by every verifier
// (the gateway's trusted issuers; JWT assertions at the authorization server), and the one mapping of
// jose's verification errors to reason ids.
//
// When a token names a kid the kept set lacks, anyone can have made that kid up, so what a kid miss may
// cost, and what it may block, is bounded:
//  - Fetches are spaced out, whoever causes them: a kid miss fetches the set again at once when the last
//    fetch is at least `refetchIntervalSeconds` old (a few seconds), and otherwise waits for the fetch
//    that interval allows, which every kid miss until then shares. A flood of made-up kids costs one
//    fetch per interval; a token of a key published a moment ago is never refused because someone else's
//    kid missed first: it waits at most the interval for a fetch made after it arrived.
//  - A kid is refused without a fetch or a wait only when a fetch made after the token was issued (its
//    iat, less a clock skew allowance) did not have it, within `cooldownSeconds` of that fetch: the
//    token claims to be older than a set that lacked its key. A made-up kid, even one an attacker
//    guesses the issuer will use next, therefore blocks nothing: a real token of that key is issued
//    after the key is published, later than the fetch that found it missing.
// jose's createRemoteJWKSet, by contrast, refuses every unknown kid for its whole cooldown after any
// fetch, so one made-up kid delays a real rotation by up to that long.
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

export interface RemoteKeySetsOptions {
  /**
   * How long after a fetch that lacked a kid a token naming it, issued before that fetch, is refused
   * without fetching again, in seconds (GATEWAY_JWKS_COOLDOWN).
   */
  cooldownSeconds: number;
  /** Least time between two fetches of one JWKS caused by unknown kids, in seconds; default the cooldown, at most 5. */
  refetchIntervalSeconds?: number;
  /** Allowance for the issuer's clock running behind when a token's iat is compared with a fetch, in seconds; default 60. */
  clockSkewSeconds?: number;
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

/** Kids remembered as missing per set, at most; the oldest are forgotten first (forgetting one only allows a fetch). */
const MAX_MISSING_KIDS = 1000;

interface KeySet {
  keys: JWTVerifyGetKey | undefined;
  /** When the fetch that gave keys started, epoch ms (a key published after that may be missing). */
  fetchedAt: number;
  /** When the last fetch started, successful or not, epoch ms. */
  lastFetchAt: number;
  fetching: Promise<void> | undefined;
  /** A kid-miss fetch waiting for the refetch interval to pass. */
  scheduled: Promise<void> | undefined;
  /** Kid → start of the latest fetch that did not have it, epoch ms. */
  missing: Map<string, number>;
}

export class RemoteKeySets {
  readonly #cooldownMs: number;
  readonly #intervalMs: number;
  readonly #skewMs: number;
  readonly #maxAgeMs: number;
  readonly #timeoutMs: number;
  readonly #resolvers = new Map<string, JWTVerifyGetKey>();
  #fetches = 0;

  constructor(options: RemoteKeySetsOptions) {
    if (!(options.cooldownSeconds >= 0)) throw new RangeError("RemoteKeySets: cooldownSeconds must be zero or more");
    const intervalSeconds = options.refetchIntervalSeconds ?? Math.min(options.cooldownSeconds, 5);
    if (!(intervalSeconds >= 0)) throw new RangeError("RemoteKeySets: refetchIntervalSeconds must be zero or more");
    const skewSeconds = options.clockSkewSeconds ?? 60;
    if (!(skewSeconds >= 0)) throw new RangeError("RemoteKeySets: clockSkewSeconds must be zero or more");
    const maxAgeSeconds = options.maxAgeSeconds ?? 600;
    if (!(maxAgeSeconds > 0)) throw new RangeError("RemoteKeySets: maxAgeSeconds must be positive");
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!(timeoutMs > 0)) throw new RangeError("RemoteKeySets: timeoutMs must be positive");
    this.#cooldownMs = options.cooldownSeconds * 1000;
    this.#intervalMs = intervalSeconds * 1000;
    this.#skewMs = skewSeconds * 1000;
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
      const set: KeySet = { keys: undefined, fetchedAt: 0, lastFetchAt: -Infinity, fetching: undefined, scheduled: undefined, missing: new Map() };
      resolver = (header, token) => this.#key(jwksUri, set, header, token);
      this.#resolvers.set(jwksUri, resolver);
    }
    return resolver;
  }

  async #key(jwksUri: string, set: KeySet, ...[header, token]: Parameters<JWTVerifyGetKey>): Promise<Awaited<ReturnType<JWTVerifyGetKey>>> {
    // A set fetched for this very call is as fresh as it gets: a kid it lacks is unknown.
    const fetchedNow = !set.keys || Date.now() - set.fetchedAt >= this.#maxAgeMs;
    if (fetchedNow) await this.#refresh(jwksUri, set);
    const kid = typeof header.kid === "string" ? header.kid : "";
    try {
      return await set.keys!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (fetchedNow || this.#knownMissing(set, kid, token)) {
        this.#remember(set, kid);
        throw error;
      }
    }
    await this.#newerSet(jwksUri, set);
    try {
      return await set.keys!(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) this.#remember(set, kid);
      throw error;
    }
  }

  /** Whether a fetch made after the token was issued (less the skew allowance), within the cooldown, lacked its kid. */
  #knownMissing(set: KeySet, kid: string, token: FlattenedJWSInput): boolean {
    const missingSince = set.missing.get(kid);
    if (missingSince === undefined || Date.now() - missingSince >= this.#cooldownMs) return false;
    const issuedAt = issuedAtMs(token);
    return issuedAt !== undefined && issuedAt + this.#skewMs < missingSince;
  }

  /** The kept set (fetched when set.fetchedAt says) lacks kid. */
  #remember(set: KeySet, kid: string): void {
    set.missing.delete(kid);
    set.missing.set(kid, set.fetchedAt);
    if (set.missing.size > MAX_MISSING_KIDS) set.missing.delete(set.missing.keys().next().value!);
  }

  /**
   * A set fetched since the call began: the fetch under way, or one started at once when the last is at
   * least the refetch interval old, or else one started when the interval has passed — shared by every
   * caller until it starts.
   */
  #newerSet(jwksUri: string, set: KeySet): Promise<void> {
    if (set.fetching) return set.fetching;
    if (set.scheduled) return set.scheduled;
    const wait = set.lastFetchAt + this.#intervalMs - Date.now();
    if (wait <= 0) return this.#refresh(jwksUri, set);
    set.scheduled = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => {
      set.scheduled = undefined;
      return this.#refresh(jwksUri, set);
    });
    return set.scheduled;
  }

  /** One fetch at a time per set; concurrent callers share it. */
  #refresh(jwksUri: string, set: KeySet): Promise<void> {
    if (set.fetching) return set.fetching;
    const startedAt = Date.now();
    set.lastFetchAt = startedAt;
    set.fetching = this.#fetch(jwksUri)
      .then(
        (keys) => {
          set.keys = keys;
          set.fetchedAt = startedAt;
        },
        (error: unknown) => {
          throw new KeySetUnavailable(jwksUri, { cause: error });
        },
      )
      .finally(() => (set.fetching = undefined));
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

/** The token's unverified iat in epoch ms, or undefined when it has none that can be read. */
function issuedAtMs(token: FlattenedJWSInput): number | undefined {
  try {
    const payload = typeof token.payload === "string" ? Buffer.from(token.payload, "base64url").toString("utf8") : new TextDecoder().decode(token.payload);
    const { iat } = JSON.parse(payload) as { iat?: unknown };
    return typeof iat === "number" && Number.isFinite(iat) ? iat * 1000 : undefined;
  } catch {
    return undefined;
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
