// oidc-provider's own HTML pages that submit forms to a client (the form_post response, the logout
// auto-submit that redirects to post_logout_redirect_uri) need that client URI in form-action. Only URIs
// the client registered are added; an error page about an unregistered redirect_uri adds nothing.
import type { Middleware } from "koa";
import type { KoaContextWithOIDC } from "oidc-provider";
import { allowFormAction } from "../../shared/security-headers.ts";

export const allowClientRedirects: Middleware = async function allowClientRedirects(ctx, next) {
  await next();
  const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
  if (!oidc?.client || ctx.headerSent || !ctx.response.is("html")) return;
  const { redirect_uri: redirectUri, post_logout_redirect_uri: postLogoutRedirectUri } = oidc.params ?? {};
  if (typeof redirectUri === "string" && oidc.client.redirectUriAllowed(redirectUri)) allowFormAction(ctx, redirectUri);
  if (typeof postLogoutRedirectUri === "string" && oidc.client.postLogoutRedirectUriAllowed(postLogoutRedirectUri)) {
    allowFormAction(ctx, postLogoutRedirectUri);
  }
};
