// DPoP proofs at the gateway (RFC 9449 §4.3, §7.1): a token bound to a key (cnf.jkt) is only good with a
// proof, signed by that key, of this very request. The proof is a JWT in the DPoP header: typ dpop+jwt,
// an asymmetric alg from the allowlist (never none, never HMAC), the public key in its jwk header; its
// claims name the request (htm, htu), its time (iat), the token (ath, the token's SHA-256) and a jti that
// is good once. Every check here is jose's or node:crypto's; nothing is hand-rolled.
//
// Replays: a jti is remembered until its proof could no longer pass the iat window, first in a small
// in-process LRU (an obvious replay to the same instance costs no I/O), then in the store every instance
// shares (storage.replays: the database, or Redis), which is the truth.
//
// Nonces (§9): a route whose dpop policy says require_nonce answers a proof without a nonce of the
// gateway's (or with a stale one) 401 use_dpop_nonce and a DPoP-Nonce header; the client repeats the
// request with it (openid-client does so on its own). Nonces are an HMAC of the current 5-minute window
// under a key derived from DPOP_NONCE_SECRET, so every instance issues and accepts the same ones; one
// stays good for the rest of its window and the whole next one.
//
// Cost: only requests that use DPoP (or reach an API that requires it) get here; a plain bearer request
// pays one property test (the token's cnf) in the pipeline.
import { log } from "../../shared/logger.ts";
import { checkDpopProof, DpopProofError, DPOP_ALGORITHMS, type CheckedProof, type DpopNonces } from "../../shared/dpop-proof.ts";
import { DpopRefused, GatewayError } from "../errors.ts";
import { normalizePath } from "../rules/normalize-path.ts";
import { describeFailure } from "./failure.ts";
import { VerifiedTokenCache } from "../../shared/verified-token-cache.ts";

export { DPOP_ALGORITHMS, DpopNonces, accessTokenHash } from "../../shared/dpop-proof.ts";

/** Longest DPoP header accepted, in characters: a proof with an RSA-4096 key is about 1.5 KB. */
const MAX_PROOF_LENGTH = 8192;
/** A JWS in compact serialization: three base64url parts. No comma: two DPoP headers joined by Node have one. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Single-use ids shared by every instance: storage.replays (repositories/replays.ts, or its Redis form). */
export interface ReplayStore {
  /** True the first time `id` is seen before `expiresAt`; false for a replay. */
  firstUse(id: string, expiresAt: Date): Promise<boolean>;
}

export interface DpopVerifierOptions {
  /** How far in the past a proof's iat may be, in seconds (GATEWAY_DPOP_PROOF_MAX_AGE); a policy may say less or more. */
  maxAgeSeconds: number;
  /** How far in the future a proof's iat may be, in seconds (GATEWAY_CLOCK_SKEW). */
  clockToleranceSeconds: number;
  /** The shared jti store; absent (the console's explanation) only this process's memory is consulted. */
  replays?: ReplayStore;
  /** Size of the in-process jti LRU; default 10,000. */
  recentEntries?: number;
  /** The gateway's nonces, for routes that require them; absent, such routes refuse every DPoP request. */
  nonces?: DpopNonces;
}

/** What a proof must match: the request as the client sent it and the token it accompanies. */
export interface DpopRequest {
  /** The request method, upper case (htm). */
  method: string;
  /** "http" or "https", as the client used it (behind trusted proxies, theirs). */
  scheme: string;
  /** host[:port] as the client sent it (Host, or a trusted X-Forwarded-Host). */
  host: string | undefined;
  /** The request path, normalized as the route table matches it (normalize-path.ts). */
  path: string;
  /** The access token the proof must name (ath). */
  accessToken: string;
  /** The token's cnf.jkt: the proof's key's SHA-256 thumbprint (RFC 7638) must equal it. */
  jkt: string;
  /** The API's own iat window, in seconds (dpop policy max_age_seconds); default the verifier's. */
  maxAgeSeconds?: number;
  /** The proof must carry a nonce the gateway issued (dpop policy require_nonce, RFC 9449 §9). */
  requireNonce?: boolean;
}

/** 503: the shared jti store could not be asked; a proof that cannot be checked for replay is not accepted. */
export class ReplayStoreUnavailable extends GatewayError {
  constructor() {
    super(503, "temporarily_unavailable", "the DPoP proof could not be checked for replay: try again", "dpop_replay_store_unavailable", {}, { "retry-after": "1" });
  }
}

/** A refusal of the proof: 401, `WWW-Authenticate: DPoP error="invalid_dpop_proof", algs="…"`. */
export function invalidProof(description: string, reason: string): DpopRefused {
  return new DpopRefused("invalid_dpop_proof", description, reason, DPOP_ALGORITHMS);
}

/** A refusal of the token in a DPoP exchange: 401, `WWW-Authenticate: DPoP error="invalid_token", algs="…"`. */
export function invalidDpopToken(description: string, reason: string): DpopRefused {
  return new DpopRefused("invalid_token", description, reason, DPOP_ALGORITHMS);
}

/**
 * The request's one DPoP proof (RFC 9449 §4.3 check 1: not more than one DPoP header, a well-formed JWT).
 * @throws DpopRefused invalid_dpop_proof when there is none, more than one, or it is not a compact JWS
 */
export function dpopProofOf(header: string | string[] | undefined): string {
  if (header === undefined || header === "") throw invalidProof("a DPoP proof is required with a DPoP-bound access token", "dpop_proof_missing");
  if (Array.isArray(header) || header.includes(",")) throw invalidProof("the request carries more than one DPoP proof", "dpop_proof_multiple");
  const proof = header.trim();
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) throw invalidProof("malformed DPoP proof", "dpop_proof_malformed");
  return proof;
}

/**
 * Checks DPoP proofs for the gateway (one per process, shared by every route): stateless but for the jti
 * memory. verify() is the only entry point; the pipeline calls it for each DPoP request.
 */
export class DpopVerifier {
  private readonly maxAgeSeconds: number;
  private readonly toleranceSeconds: number;
  private readonly replays: ReplayStore | undefined;
  private readonly nonces: DpopNonces | undefined;
  /** jti ids seen by this process, until their proofs' window closes: refuses replays to this instance without I/O. */
  private readonly recent: VerifiedTokenCache<true>;

  constructor(options: DpopVerifierOptions) {
    if (!(options.maxAgeSeconds > 0)) throw new RangeError("DpopVerifier: maxAgeSeconds must be positive");
    if (!(options.clockToleranceSeconds >= 0)) throw new RangeError("DpopVerifier: clockToleranceSeconds must be zero or more");
    this.maxAgeSeconds = options.maxAgeSeconds;
    this.toleranceSeconds = options.clockToleranceSeconds;
    this.replays = options.replays;
    this.nonces = options.nonces;
    this.recent = new VerifiedTokenCache<true>({ maxTtlSeconds: 3600 + options.clockToleranceSeconds, maxEntries: options.recentEntries ?? 10_000 });
  }

  /**
   * Checks a DPoP proof for a request (RFC 9449 §4.3, with the resource server's checks of §7.1): a JWT
   * typed dpop+jwt, signed with an allowed asymmetric alg by the public key in its jwk header, whose
   * thumbprint is the token's cnf.jkt; htm and htu (without query and fragment) naming this request; iat
   * no older than the window and no later than the clock tolerance; ath the token's hash; jti never seen
   * before within the window, on any instance; with requireNonce, a nonce of the gateway's. Resolves when
   * all hold.
   * @throws DpopRefused invalid_dpop_proof (401) naming the first check that failed; use_dpop_nonce (401,
   *   with a DPoP-Nonce header) for a missing or stale nonce where one is required;
   *   ReplayStoreUnavailable (503) when the shared store cannot be asked
   */
  async verify(proof: string, request: DpopRequest, nowMs = Date.now()): Promise<void> {
    const maxAge = request.maxAgeSeconds ?? this.maxAgeSeconds;
    let checked: CheckedProof;
    try {
      checked = await checkDpopProof(
        proof,
        { method: request.method, matchesUri: (htu) => sameUri(htu, request), maxAgeSeconds: maxAge, toleranceSeconds: this.toleranceSeconds, accessToken: request.accessToken },
        nowMs,
      );
    } catch (error) {
      if (error instanceof DpopProofError) throw invalidProof(error.message, error.reason);
      throw error;
    }
    const { jkt, jti, iat, claims } = checked;
    if (jkt !== request.jkt) throw invalidProof("the DPoP proof is not signed by the key the access token is bound to", "dpop_key_mismatch");
    if (request.requireNonce) this.requireNonce(claims.nonce, nowMs);
    // Remembered until no proof with this iat could pass the window any more.
    await this.firstUse(`dpop:${jkt}:${jti}`, (iat + maxAge + this.toleranceSeconds) * 1000, nowMs);
  }

  private requireNonce(nonce: unknown, nowMs: number): void {
    if (!this.nonces) throw invalidProof("DPoP nonces are not available here", "dpop_nonce_unavailable");
    if (this.nonces.accepts(nonce, nowMs)) return;
    const description = nonce === undefined ? "this API requires a DPoP nonce: repeat the request with the one in DPoP-Nonce" : "the DPoP nonce is not current: repeat the request with the one in DPoP-Nonce";
    throw new DpopRefused("use_dpop_nonce", description, nonce === undefined ? "dpop_nonce_missing" : "dpop_nonce_stale", DPOP_ALGORITHMS, { "dpop-nonce": this.nonces.current(nowMs) });
  }

  private async firstUse(id: string, untilMs: number, nowMs: number): Promise<void> {
    const key = VerifiedTokenCache.key(id);
    if (this.recent.get(key, nowMs)) throw invalidProof("the DPoP proof has been used before", "dpop_replay");
    // Marked before the shared store answers, so concurrent copies on this instance are refused at once.
    this.recent.set(key, true, untilMs, nowMs);
    if (!this.replays) return;
    let first: boolean;
    try {
      first = await this.replays.firstUse(id, new Date(untilMs));
    } catch (error) {
      log.warn("dpop replay store unavailable", { error: describeFailure(error) });
      throw new ReplayStoreUnavailable();
    }
    if (!first) throw invalidProof("the DPoP proof has been used before", "dpop_replay");
  }
}

/**
 * htu against the request (RFC 9449 §4.3 checks 9 and §4.2: without query and fragment, after the
 * syntax- and scheme-based normalization of RFC 3986 §6.2.2–6.2.3): scheme and authority as URL parsing
 * normalizes them (case, default port), the path as the route table normalizes it.
 */
function sameUri(htu: string, request: DpopRequest): boolean {
  if (request.host === undefined) return false;
  const claimed = URL.parse(htu);
  const actual = URL.parse(`${request.scheme}://${request.host}/`);
  if (!claimed || !actual || claimed.protocol !== actual.protocol || claimed.host !== actual.host || claimed.username !== "" || claimed.password !== "") return false;
  try {
    return normalizePath(claimed.pathname) === request.path;
  } catch {
    return false;
  }
}
