// The checks every DPoP proof gets, wherever it is presented (RFC 9449 §4.3): at the gateway with a
// bound access token (gateway/authenticators/dpop.ts, which adds the token's binding, nonces and the
// shared jti memory) and at the token endpoint for Gatehouse's own grants
// (authorization-server/grants/dpop-binding.ts). Every check is jose's or node:crypto's.
import crypto from "node:crypto";
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK } from "jose";
import { ASYMMETRIC_ALGORITHMS } from "./algorithms.ts";

/** Proof algorithms accepted: the asymmetric allowlist (never none, never HMAC: RFC 8725 §3.1-3.2). */
export const DPOP_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS;

/** Longest jti accepted, in characters. */
const MAX_JTI_LENGTH = 256;

/** A proof that fails a check: `description` says which (never echoing the proof), `reason` is its id. */
export class DpopProofError extends Error {
  readonly reason: string;
  constructor(description: string, reason: string) {
    super(description);
    this.reason = reason;
  }
}

/** What a proof must match. */
export interface ProofExpectations {
  /** The request method, upper case (htm). */
  method: string;
  /** Whether the proof's htu (RFC 9449 §4.2: without query and fragment) names this request. */
  matchesUri: (htu: string) => boolean;
  /** How old iat may be, in seconds. */
  maxAgeSeconds: number;
  /** How far in the future iat may be, in seconds. */
  toleranceSeconds: number;
  /** The access token the proof accompanies (ath); absent at the token endpoint. */
  accessToken?: string;
}

/** A proof whose checks all passed. */
export interface CheckedProof {
  /** SHA-256 thumbprint of the proof's key (RFC 7638): what a bound token's cnf.jkt holds. */
  jkt: string;
  jti: string;
  /** Epoch seconds. */
  iat: number;
  claims: Record<string, unknown>;
}

/** base64url(SHA-256(token)): a proof's ath (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return crypto.hash("sha256", token, "base64url");
}

/**
 * Checks a DPoP proof: a JWT typed dpop+jwt, signed with an allowed asymmetric alg by the public key in
 * its jwk header; jti, htm, htu and iat present; htm and htu naming this request; iat within the window;
 * with an access token, ath its hash. The jti's single use is the caller's to enforce.
 * @throws DpopProofError naming the first check that failed
 */
export async function checkDpopProof(proof: string, expected: ProofExpectations, nowMs = Date.now()): Promise<CheckedProof> {
  let header: { jwk?: JWK };
  let claims: Record<string, unknown>;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: "dpop+jwt", algorithms: [...DPOP_ALGORITHMS], requiredClaims: ["jti", "htm", "htu", "iat"], currentDate: new Date(nowMs) });
    header = verified.protectedHeader;
    claims = verified.payload;
  } catch (error) {
    throw proofRefusal(error);
  }
  const now = nowMs / 1000;
  const { jti, htm, htu, iat, ath } = claims;
  if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw new DpopProofError("the DPoP proof's jti must be a string of at most 256 characters", "dpop_jti_invalid");
  if (htm !== expected.method) throw new DpopProofError("the DPoP proof's htm does not match the request method", "dpop_htm_mismatch");
  if (typeof htu !== "string" || !expected.matchesUri(htu)) throw new DpopProofError("the DPoP proof's htu does not match the request URI", "dpop_htu_mismatch");
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw new DpopProofError("the DPoP proof's iat must be a number", "dpop_iat_invalid");
  if (iat > now + expected.toleranceSeconds) throw new DpopProofError("the DPoP proof's iat is in the future", "dpop_iat_future");
  if (iat < now - expected.maxAgeSeconds) throw new DpopProofError(`the DPoP proof is older than ${expected.maxAgeSeconds} seconds: make a new one for each request`, "dpop_iat_stale");
  if (expected.accessToken !== undefined && (typeof ath !== "string" || ath !== accessTokenHash(expected.accessToken))) {
    throw new DpopProofError("the DPoP proof's ath does not match the access token", "dpop_ath_mismatch");
  }
  return { jkt: await calculateJwkThumbprint(header.jwk!, "sha256"), jti, iat, claims };
}

/** jose's refusal of a proof → a DpopProofError with a reason id. */
function proofRefusal(error: unknown): DpopProofError {
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new DpopProofError(`the DPoP proof's alg is not accepted: use one of ${DPOP_ALGORITHMS.join(", ")}`, "dpop_alg_not_allowed");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "typ") return new DpopProofError('the DPoP proof\'s typ must be "dpop+jwt"', "dpop_typ_mismatch");
    return new DpopProofError(`the DPoP proof's "${error.claim}" claim is missing or invalid`, "dpop_claim_invalid");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new DpopProofError("the DPoP proof's signature is invalid", "dpop_signature_invalid");
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWKInvalid) {
    return new DpopProofError("the DPoP proof must carry the public key it is signed with (jwk header)", "dpop_jwk_invalid");
  }
  return new DpopProofError("malformed DPoP proof", "dpop_proof_malformed");
}

/** Length of a nonce's window, in seconds: a nonce is good for the rest of its window and the next. */
const NONCE_WINDOW_SECONDS = 300;

/**
 * Gatehouse's own DPoP nonces (RFC 9449 §9), at the gateway and on Gatehouse's own grants: base64url HMAC-SHA256 of the time window under a key derived
 * (HKDF) from DPOP_NONCE_SECRET, the same on every instance. Nothing is stored.
 */
export class DpopNonces {
  private readonly secret: () => Buffer;
  private key: Buffer | undefined;

  /** @param secret the shared secret (dpopNonceSecret), asked for at the first nonce */
  constructor(secret: () => Buffer) {
    this.secret = secret;
  }

  /** The nonce to hand out now. */
  current(nowMs = Date.now()): string {
    return this.forWindow(Math.floor(nowMs / 1000 / NONCE_WINDOW_SECONDS));
  }

  /** True for a nonce of the current window or the one before. */
  accepts(nonce: unknown, nowMs = Date.now()): boolean {
    if (typeof nonce !== "string" || nonce.length !== 43) return false;
    const window = Math.floor(nowMs / 1000 / NONCE_WINDOW_SECONDS);
    const given = Buffer.from(nonce);
    // 43 characters of non-ASCII are more than 43 bytes: timingSafeEqual would throw on the length.
    if (given.length !== 43) return false;
    return [window, window - 1].some((w) => crypto.timingSafeEqual(given, Buffer.from(this.forWindow(w))));
  }

  private forWindow(window: number): string {
    this.key ??= Buffer.from(crypto.hkdfSync("sha256", this.secret(), "gatehouse", "gateway-dpop-nonce", 32));
    return crypto.createHmac("sha256", this.key).update(String(window)).digest("base64url");
  }
}
