// JWT bearer (RFC 7523 §2.1): a client presents a JWT signed by an identity provider Gatehouse trusts and
// gets Gatehouse tokens for its subject. The sample is that identity provider: a fresh ES256 key whose
// public JWK it registers inline (a real one would publish a jwks_uri).
import crypto from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { JWT_BEARER } from "../services/grant-rules.ts";
import { runAssertionSample } from "./assertion-grant.ts";
import type { Flow } from "./sample.ts";
import { decodeJws } from "./tokens.ts";

export const SAMPLE_JWT_ISSUER = "https://jwt-idp.sample.gatehouse.test";

export const jwtBearer: Flow = {
  name: "jwt-bearer",
  grant: JWT_BEARER,
  description: "trade a JWT signed by a trusted identity provider for tokens (the sample signs its own; --username to map to a user)",
  interactive: false,
  run: (context) =>
    runAssertionSample(context, {
      flow: "jwt-bearer",
      grantType: JWT_BEARER,
      kind: "jwt",
      issuer: SAMPLE_JWT_ISSUER,
      name: "Gatehouse sample identity provider (JWT)",
      async signer() {
        const { privateKey, publicKey } = await generateKeyPair("ES256");
        const kid = `sample-${crypto.randomBytes(6).toString("hex")}`;
        const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
        return {
          registration: { jwks: { keys: [jwk] } },
          describe: { kid, alg: "ES256" },
          async sign(claims) {
            const assertion = await new SignJWT({ jti: claims.id })
              .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
              .setIssuer(claims.issuer)
              .setSubject(claims.subject)
              .setAudience(claims.audience)
              .setIssuedAt(claims.issuedAt)
              .setExpirationTime(claims.expiresAt)
              .sign(privateKey);
            return { assertion, shown: decodeJws(assertion) };
          },
        };
      },
    }),
};
