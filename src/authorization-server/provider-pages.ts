// The three page hooks oidc-provider calls (errors, logout confirmation, signed out), rendered with the
// web kit. The only raw insertion is oidc-provider's generated logout <form>.
import type { Context } from "koa";
import type { ErrorOut, KoaContextWithOIDC } from "oidc-provider";
import { allowFormAction } from "../shared/security-headers.ts";
import { sendPage } from "../web/pages.ts";
import { correctAuthorizationError } from "./protocol-corrections.ts";

function clientDisplayName(ctx: KoaContextWithOIDC): string | undefined {
  const client = ctx.oidc?.client;
  return client ? (client.clientName ?? client.clientId) : undefined;
}

/** oidc-provider's renderError: the error code and description only, never a stack or detail. */
export async function renderError(ctx: KoaContextWithOIDC, original: ErrorOut, _error: Error): Promise<void> {
  const out = correctAuthorizationError(original, ctx.oidc?.params?.response_type);
  await sendPage(ctx as unknown as Context, "error", {
    title: "Something went wrong",
    error: out.error,
    description: out.error_description ?? "",
  });
}

/** oidc-provider's rpInitiatedLogout.logoutSource: form is its generated <form id="op.logoutForm">. */
export async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  allowFormAction(ctx as unknown as Context, ctx.oidc.params?.post_logout_redirect_uri);
  await sendPage(ctx as unknown as Context, "logout", { title: "Sign out", form, clientName: clientDisplayName(ctx) });
}

/** oidc-provider's rpInitiatedLogout.postLogoutSuccessSource. */
export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  await sendPage(ctx as unknown as Context, "logged-out", { title: "Signed out", clientName: clientDisplayName(ctx) });
}
