// Responses oidc-provider produces that Gatehouse corrects on their way out, through its middleware
// stack (provider.use): it offers no hook at these points.
import type { Middleware } from "koa";
import type { KoaContextWithOIDC } from "oidc-provider";

/** Discovery and the JWKS may be cached (their URLs never depend on the request: see request-hygiene.ts). */
const CACHEABLE = new Set(["discovery", "jwks"]);
export const METADATA_CACHE_CONTROL = "public, max-age=300";

/** What oidc-provider says where RFC 6749 and Gatehouse say otherwise, on the authorization endpoint. */
export interface AuthorizationErrorOut {
  error?: string;
  error_description?: string;
}

/** The supported alternatives to OAuth 2.0's bare implicit response_type=token, which oidc-provider does not implement by design. */
export const BARE_TOKEN_DESCRIPTION =
  "response_type=token (OAuth 2.0 implicit) is not supported: use response_type=code with PKCE, or for a client registered with the implicit grant the OpenID Connect response_type=id_token token (with a nonce)";

/**
 * Corrects an authorization error: a response type the client is not registered for is
 * unauthorized_client (RFC 6749 §4.1.2.1, §4.2.2.1), not invalid_request; bare response_type=token names
 * the supported alternatives. Returns the same object when nothing changes.
 */
export function correctAuthorizationError<T extends AuthorizationErrorOut>(out: T, responseType: unknown): T {
  if (out.error === "invalid_request" && out.error_description === "requested response_type is not allowed for this client") {
    return { ...out, error: "unauthorized_client" };
  }
  if (out.error === "unsupported_response_type" && responseType === "token") return { ...out, error_description: BARE_TOKEN_DESCRIPTION };
  return out;
}

/** correctAuthorizationError applied to an error redirect (parameters in the query or the fragment). */
function correctErrorRedirect(location: string, responseType: unknown): string | undefined {
  const url = URL.parse(location);
  if (!url) return undefined;
  const inFragment = url.hash.length > 1;
  const params = new URLSearchParams(inFragment ? url.hash.slice(1) : url.search);
  const error = params.get("error");
  if (!error) return undefined;
  const out = { error, error_description: params.get("error_description") ?? undefined };
  const corrected = correctAuthorizationError(out, responseType);
  if (corrected === out) return undefined;
  params.set("error", corrected.error);
  if (corrected.error_description) params.set("error_description", corrected.error_description);
  if (inFragment) url.hash = params.toString();
  else url.search = params.toString();
  return url.href;
}

export const protocolCorrections: Middleware = async function protocolCorrections(ctx, next) {
  await next();
  const route = (ctx as Partial<KoaContextWithOIDC>).oidc?.route;
  if (route && CACHEABLE.has(route) && ctx.status === 200) ctx.set("Cache-Control", METADATA_CACHE_CONTROL);
  // Error redirects of the authorization endpoint (the error page is corrected in renderError).
  const location = ctx.response.get("location");
  if (route === "authorization" && location && ctx.status >= 300 && ctx.status < 400) {
    const corrected = correctErrorRedirect(location, (ctx as Partial<KoaContextWithOIDC>).oidc?.params?.response_type);
    if (corrected) ctx.redirect(corrected);
  }
  // RFC 6749 §5.2: a grant type the client may not use is unauthorized_client; oidc-provider says invalid_request.
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (route === "token" && ctx.status === 400 && body?.error === "invalid_request" && body.error_description === "requested grant type is not allowed for this client") {
    ctx.body = { ...body, error: "unauthorized_client" };
  }
};
