// Security events of the authorization server, as structured log lines (shared/logger.ts securityEvent):
// failed client authentication, refresh token reuse, revoked grants and tokens. Each names the client,
// the source address and, for a token, its hash; never the token or a secret. oidc-provider reports
// the first three through its events; revocations through the response of its revocation endpoint.
import type { Middleware } from "koa";
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import { securityEvent, tokenHash } from "../shared/logger.ts";

interface ProtocolError {
  error?: string;
  /** oidc-provider's internal detail (e.g. "refresh token already used"); never sent to the client. */
  error_detail?: string;
}

/** The client_id a request claims, authenticated or not (form body, or the user part of HTTP Basic). */
function claimedClientId(ctx: KoaContextWithOIDC): string | undefined {
  if (ctx.oidc?.client) return ctx.oidc.client.clientId;
  const fromBody = ctx.oidc?.params?.client_id;
  if (typeof fromBody === "string") return fromBody;
  const basic = /^Basic\s+(\S+)$/i.exec(ctx.get("authorization"))?.[1];
  if (!basic) return undefined;
  const user = Buffer.from(basic, "base64").toString("utf8").split(":")[0];
  try {
    return user ? decodeURIComponent(user.replace(/\+/g, " ")).slice(0, 128) : undefined;
  } catch {
    return undefined;
  }
}

/** Subscribes to the provider's events that are security events. */
export function logSecurityEvents(provider: Provider): void {
  // Typed per event by @types/oidc-provider; these four all pass (ctx, error).
  const onError = provider.on.bind(provider) as (event: string, listener: (ctx: KoaContextWithOIDC, error: ProtocolError) => void) => void;
  for (const eventName of ["grant.error", "introspection.error", "revocation.error", "userinfo.error"]) {
    onError(eventName, (ctx, error) => {
      if (error.error === "invalid_client") {
        securityEvent("client_authentication_failed", { client_id: claimedClientId(ctx), address: ctx.ip, endpoint: ctx.oidc?.route });
      } else if (eventName === "grant.error" && error.error === "invalid_grant" && error.error_detail === "refresh token already used") {
        const grantId = (ctx.oidc?.entities.RefreshToken as { grantId?: string } | undefined)?.grantId;
        securityEvent("refresh_token_reuse", { client_id: claimedClientId(ctx), address: ctx.ip, grant: grantId && tokenHash(grantId) });
      }
    });
  }
  provider.on("grant.revoked", (ctx: KoaContextWithOIDC, grantId: string) => {
    securityEvent("grant_revoked", { client_id: ctx.oidc?.client?.clientId, address: ctx.ip, grant: tokenHash(grantId), by: ctx.oidc?.route });
  });
}

/** Logs each token the revocation endpoint accepted (RFC 7009 answers 200 whatever it did). */
export const logRevocations: Middleware = async function logRevocations(ctx, next) {
  await next();
  const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
  const token = oidc?.params?.token;
  if (oidc?.route !== "revocation" || ctx.status !== 200 || typeof token !== "string") return;
  securityEvent("token_revoked", { client_id: oidc.client?.clientId, address: ctx.ip, token: tokenHash(token), hint: oidc.params?.token_type_hint });
};
