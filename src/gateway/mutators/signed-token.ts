// A short-lived token the gateway signs for the backend (the forward_token policy's "signed"), so a backend can
// verify the caller with Gatehouse's JWKS without ever seeing the client's own token.
import { importJWK, SignJWT, type JWK } from "jose";
import type { Principal } from "../types.ts";

export interface SigningKey {
  kid: string;
  alg: string;
  jwk: JWK;
}

export class SignedTokenMinter {
  private readonly issuer: string;
  private readonly ttlSeconds: number;
  private readonly activeKey: () => SigningKey;
  private imported: { kid: string; key: CryptoKey | Uint8Array } | undefined;

  constructor(options: { issuer: string; ttlSeconds: number; activeKey: () => SigningKey }) {
    this.issuer = options.issuer;
    this.ttlSeconds = options.ttlSeconds;
    this.activeKey = options.activeKey;
  }

  /** @param audience the API's identifier */
  async mint(audience: string, principal: Principal): Promise<string> {
    const { kid, alg, jwk } = this.activeKey();
    if (this.imported?.kid !== kid) this.imported = { kid, key: await importJWK(jwk, alg) };
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      scope: [...principal.scopes].join(" "),
      ...(principal.clientId ? { client_id: principal.clientId } : {}),
      token_issuer: principal.issuer,
    })
      .setProtectedHeader({ alg, kid, typ: "gatehouse-identity+jwt" })
      .setIssuer(this.issuer)
      .setSubject(principal.subject)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(Math.min(now + this.ttlSeconds, principal.expiresAt))
      .sign(this.imported.key);
  }
}
