// Introspection (RFC 7662) and revocation (RFC 7009) of JWT access tokens. oidc-provider's endpoints
// only know stored tokens and answer "unsupported_token_type" for a JWT, after authenticating the
// client. This middleware takes over exactly there: it verifies the JWT (shared/own-access-tokens.ts:
// Gatehouse's keys, the revocation list) and answers as the RFCs require.
import type { KoaContextWithOIDC } from "oidc-provider";
import type { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import type { Catalog } from "./catalog.ts";
import { mayIntrospect } from "./introspection-policy.ts";

export interface StructuredTokenOptions {
  tokens: OwnAccessTokens;
  revocations: RevocationList;
  catalog: Catalog;
  /** Ends a grant: its stored tokens and its JWTs (a revoked JWT access token ends its grant, as an opaque one does). */
  endGrant: (grantId: string) => Promise<void>;
}

export function structuredTokenEndpoints({ tokens, revocations, catalog, endGrant }: StructuredTokenOptions) {
  return async function handleStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> {
    await next();
    const route = ctx.oidc?.route;
    // An opaque token exchanged from a grant that has ended since (token-exchange.ts) is not active.
    if (route === "introspection" && ctx.status === 200) {
      const answer = ctx.body as { active?: boolean; sgid?: unknown; sclient?: unknown; iat?: unknown } | undefined;
      if (answer?.active && (answer.sgid !== undefined || answer.sclient !== undefined) && revocations.refuses({ sgid: answer.sgid, sclient: answer.sclient, iat: answer.iat })) {
        ctx.body = { active: false };
      }
      return;
    }
    if ((route !== "introspection" && route !== "revocation") || ctx.status !== 400) return;
    const body = ctx.body as { error?: string } | undefined;
    const client = ctx.oidc.client;
    const token = ctx.oidc.params?.token;
    if (body?.error !== "unsupported_token_type" || !client || typeof token !== "string") return;

    const payload = await tokens.verify(token);
    ctx.status = 200;
    if (route === "introspection") {
      const visible = payload && mayIntrospect(catalog, client.clientId, payload.client_id, payload.aud);
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
    if (typeof payload.gid === "string") await endGrant(payload.gid);
  };
}
