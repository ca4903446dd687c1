// The signature algorithms Gatehouse signs with and those it accepts from others, in one place.
// RFC 8725 §3.1: never "none", never HMAC where a public key is at hand (a verifier could be fed the
// public key as the HMAC secret): only asymmetric algorithms, from an allowlist.

/** Algorithms of Gatehouse's own signing keys (SIGNING_ALG, `gatehouse keys rotate --alg`). */
export const SIGNING_ALGORITHMS = ["ES256", "RS256", "EdDSA"] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Asymmetric JWS algorithms accepted from others: trusted issuers' tokens, client assertions, JWT bearer assertions. */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
