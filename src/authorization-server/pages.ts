// The HTML the authorization server shows: views/*.ejs rendered inside views/layout.ejs, the three page
// hooks oidc-provider calls (errors, logout confirmation, signed out) and the one stylesheet.
// Templates escape every value (<%= %>); the only raw insertions are the rendered view into the layout
// and oidc-provider's generated logout <form>.
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import ejs from "ejs";
import type { Context, Middleware } from "koa";
import type { ErrorOut, KoaContextWithOIDC } from "oidc-provider";
import { allowFormAction } from "../shared/security-headers.ts";

const VIEWS = fileURLToPath(new URL("../../views/", import.meta.url));
const STYLESHEET = { path: "/assets/gatehouse.css", file: `${VIEWS}assets/gatehouse.css` };

export type ViewName = "login" | "consent" | "logout" | "logged-out" | "error";

export interface ViewLocals {
  /** Page title, shown before "Gatehouse" in the window title and as the main heading. */
  title: string;
  [name: string]: unknown;
}

/** Renders views/<name>.ejs inside the layout. Compiled templates are cached by ejs, keyed by file. */
export async function renderView(name: ViewName, locals: ViewLocals): Promise<string> {
  const options = { cache: true, async: false } as const;
  const body = await ejs.renderFile(`${VIEWS}${name}.ejs`, locals, options);
  return ejs.renderFile(`${VIEWS}layout.ejs`, { title: locals.title, stylesheet: STYLESHEET.path, body }, options);
}

/** Answers with a rendered page; status defaults to whatever the response already carries. */
export async function sendPage(ctx: Context, name: ViewName, locals: ViewLocals, status?: number): Promise<void> {
  const html = await renderView(name, locals);
  if (status) ctx.status = status;
  ctx.type = "html";
  ctx.body = html;
}

function clientDisplayName(ctx: KoaContextWithOIDC): string | undefined {
  const client = ctx.oidc?.client;
  return client ? (client.clientName ?? client.clientId) : undefined;
}

/** oidc-provider's renderError: the error code and description only, never a stack or detail. */
export async function renderError(ctx: KoaContextWithOIDC, out: ErrorOut, _error: Error): Promise<void> {
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

/** Serves the stylesheet (style-src 'self' allows it; no inline styles anywhere). */
export function serveAssets(): Middleware {
  let css: Buffer | undefined;
  return async function assets(ctx, next) {
    if (ctx.path !== STYLESHEET.path || (ctx.method !== "GET" && ctx.method !== "HEAD")) return next();
    css ??= fs.readFileSync(STYLESHEET.file);
    ctx.type = "text/css; charset=utf-8";
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.body = css;
  };
}
