// Introspection (RFC 7662) and revocation (RFC 7009) of JWT access tokens. oidc-provider's endpoints
// only know stored tokens and answer "unsupported_token_type" for a JWT, after authenticating the
// client. This middleware takes over exactly there: it verifies the JWT with Gatehouse's own keys,
// consults the revocation list (by jti and by grant), and answers as the RFCs require.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { RevocationList } from "../shared/revocation-list.ts";
import type { Catalog } from "./catalog.ts";
import { mayIntrospect } from "./introspection-policy.ts";

export interface StructuredTokenOptions {
  issuer: string;
  publicJwks: JSONWebKeySet;
  revocations: RevocationList;
  catalog: Catalog;
}

export function structuredTokenEndpoints({ issuer, publicJwks, revocations, catalog }: StructuredTokenOptions) {
  const keys = createLocalJWKSet(publicJwks);

  async function verify(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer, typ: "at+jwt", algorithms: ["ES256", "RS256", "EdDSA"] });
      return payload;
    } catch {
      return undefined;
    }
  }

  return async function handleStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> {
    await next();
    const route = ctx.oidc?.route;
    if ((route !== "introspection" && route !== "revocation") || ctx.status !== 400) return;
    const body = ctx.body as { error?: string } | undefined;
    const client = ctx.oidc.client;
    const token = ctx.oidc.params?.token;
    if (body?.error !== "unsupported_token_type" || !client || typeof token !== "string") return;

    const payload = await verify(token);
    ctx.status = 200;
    if (route === "introspection") {
      const visible = payload && !revocations.refuses(payload) && mayIntrospect(catalog, client.clientId, payload.client_id, payload.aud);
      ctx.body = visible ? { ...payload, active: true, token_type: "Bearer" } : { active: false };
      return;
    }
    ctx.body = "";
    if (!payload?.jti || !payload.exp) return;
    if (payload.client_id !== client.clientId) {
      if (client.clientAuthMethod === "none") return;
      ctx.status = 400;
      ctx.body = { error: "invalid_request", error_description: "client is not authorized to revoke the presented token" };
      return;
    }
    await revocations.revoke("jti", payload.jti, new Date(payload.exp * 1000));
  };
}
