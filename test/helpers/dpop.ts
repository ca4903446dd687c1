// A client's DPoP key (RFC 9449) for tests: an ES256 key pair, its public JWK and thumbprint, and
// proofs signed with it, as a real client makes them.
import crypto from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

export interface DpopKey {
  pair: CryptoKeyPair;
  jwk: JWK;
  /** The JWK's SHA-256 thumbprint (RFC 7638): what a bound token's cnf.jkt holds. */
  jkt: string;
  /**
   * A DPoP proof: typ dpop+jwt, ES256, the public jwk in the header (header entries override these),
   * a fresh jti and the current iat unless claims give them.
   */
  proof(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function dpopKey(): Promise<DpopKey> {
  const pair = (await generateKeyPair("ES256", { extractable: true })) as CryptoKeyPair;
  const jwk = await exportJWK(pair.publicKey);
  return {
    pair,
    jwk,
    jkt: await calculateJwkThumbprint(jwk, "sha256"),
    proof: (claims, header = {}) =>
      new SignJWT({ jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
        .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk, ...header })
        .sign(pair.privateKey),
  };
}
