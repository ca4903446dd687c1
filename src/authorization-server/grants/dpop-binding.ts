// DPoP (RFC 9449 §5) for Gatehouse's own grants: oidc-provider binds the tokens of its built-in grants
// itself, but a registerGrantType handler gets no DPoP helper (its validateDpop is internal). So here,
// with the checks every proof gets (shared/dpop-proof.ts): POST, htu the token endpoint, iat within the
// window, the jti once on every instance (storage.replays), and the key's thumbprint to bind the tokens.
// A client registered with dpop_bound_access_tokens must send a proof (§5.2). With DPOP_REQUIRE_NONCE the
// proof must carry a nonce of Gatehouse's own (DpopNonces, from DPOP_NONCE_SECRET, as the gateway's):
// a proof without one, or with a stale one, gets 400 use_dpop_nonce and a DPoP-Nonce header (§8), and
// the client repeats the request with it (openid-client does by itself).
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { checkDpopProof, DpopProofError, type DpopNonces } from "../../shared/dpop-proof.ts";
import type { ReplayRepository } from "../../storage/repositories/replays.ts";
import { invalidGrant } from "./invalid-grant.ts";

/** How old a proof's iat may be, and how far ahead, in seconds (oidc-provider's own window is 300 s). */
const MAX_AGE_SECONDS = 300;
const TOLERANCE_SECONDS = 60;
/** Longest DPoP header looked at, in characters. */
const MAX_PROOF_LENGTH = 8192;

/** invalid_dpop_proof (RFC 9449 §5.2, 400) with a description naming the check. */
function invalidProof(description: string): Error {
  const error = new errors.CustomOIDCProviderError("invalid_dpop_proof", description);
  return Object.assign(error, { status: 400, statusCode: 400, expose: true });
}

/** What the binding needs: where a proof's jti is remembered, and the nonces when they are required. */
export interface DpopBindingOptions {
  replays: Pick<ReplayRepository, "firstUse">;
  /** Present when DPOP_REQUIRE_NONCE is set: every proof must carry one of these. */
  nonces?: DpopNonces;
}

/** use_dpop_nonce (RFC 9449 §8, 400) with the nonce to use in DPoP-Nonce. */
function useNonce(ctx: KoaContextWithOIDC, nonces: DpopNonces, given: unknown): Error {
  ctx.set("DPoP-Nonce", nonces.current());
  const error = new errors.CustomOIDCProviderError("use_dpop_nonce", given === undefined ? "a DPoP nonce is required: repeat the request with the one in DPoP-Nonce" : "the DPoP nonce is not current: repeat the request with the one in DPoP-Nonce");
  return Object.assign(error, { status: 400, statusCode: 400, expose: true });
}

/** Whether htu (without query and fragment, RFC 9449 §4.2) names the token endpoint. */
function namesEndpoint(htu: string, endpoint: string): boolean {
  const claimed = URL.parse(htu);
  const actual = URL.parse(endpoint);
  return !!claimed && !!actual && claimed.origin === actual.origin && claimed.pathname === actual.pathname && !claimed.username && !claimed.password;
}

/**
 * The thumbprint (RFC 7638) to bind this token request's tokens to (cnf.jkt), or undefined without a proof.
 * @throws errors.InvalidGrant without a proof from a client registered with dpop_bound_access_tokens;
 *   invalid_dpop_proof (400) for a proof that fails a check or was used before; use_dpop_nonce (400)
 *   when nonces are required and the proof has no current one
 */
export async function dpopBinding(ctx: KoaContextWithOIDC, { replays, nonces }: DpopBindingOptions): Promise<string | undefined> {
  const proof = ctx.get("DPoP");
  if (!proof) {
    if ((ctx.oidc.client as unknown as { dpopBoundAccessTokens?: boolean }).dpopBoundAccessTokens) {
      throw invalidGrant("this client's access tokens must be DPoP-bound: send a DPoP proof (RFC 9449)");
    }
    return undefined;
  }
  if (proof.length > MAX_PROOF_LENGTH || proof.includes(",")) throw invalidProof("one DPoP proof, a compact JWS, is expected");
  const endpoint = ctx.oidc.urlFor("token");
  try {
    const checked = await checkDpopProof(proof, { method: "POST", matchesUri: (htu) => namesEndpoint(htu, endpoint), maxAgeSeconds: MAX_AGE_SECONDS, toleranceSeconds: TOLERANCE_SECONDS });
    if (nonces && !nonces.accepts(checked.claims.nonce)) throw useNonce(ctx, nonces, checked.claims.nonce);
    const untilMs = (checked.iat + MAX_AGE_SECONDS + TOLERANCE_SECONDS) * 1000;
    if (!(await replays.firstUse(`dpop-token:${checked.jkt}:${checked.jti}`, new Date(untilMs)))) throw invalidProof("the DPoP proof has been used before");
    return checked.jkt;
  } catch (error) {
    if (error instanceof DpopProofError) throw invalidProof(error.message);
    throw error;
  }
}
