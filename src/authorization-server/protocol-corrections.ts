// Responses oidc-provider produces that Gatehouse corrects on their way out, through its middleware
// stack (provider.use): it offers no hook at these points.
import type { Middleware } from "koa";
import type { KoaContextWithOIDC } from "oidc-provider";

/** Discovery and the JWKS may be cached (their URLs never depend on the request: see request-hygiene.ts). */
const CACHEABLE = new Set(["discovery", "jwks"]);
export const METADATA_CACHE_CONTROL = "public, max-age=300";

export const protocolCorrections: Middleware = async function protocolCorrections(ctx, next) {
  await next();
  const route = (ctx as Partial<KoaContextWithOIDC>).oidc?.route;
  if (route && CACHEABLE.has(route) && ctx.status === 200) ctx.set("Cache-Control", METADATA_CACHE_CONTROL);
  // RFC 6749 §5.2: a grant type the client may not use is unauthorized_client; oidc-provider says invalid_request.
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (route === "token" && ctx.status === 400 && body?.error === "invalid_request" && body.error_description === "requested grant type is not allowed for this client") {
    ctx.body = { ...body, error: "unauthorized_client" };
  }
};
