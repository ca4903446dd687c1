// The HTML Gatehouse shows: views/<name>.ejs rendered inside a layout (views/layout.ejs for the sign-in
// pages, views/admin/layout.ejs for the console), and the static assets under views/assets.
// Templates escape every value (<%= %>); the only raw insertion is the rendered view into its layout.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ejs from "ejs";
import type { Context, Middleware } from "koa";

const VIEWS = fileURLToPath(new URL("../../views/", import.meta.url));
const ASSETS = path.join(VIEWS, "assets");
export const STYLESHEET = "/assets/gatehouse.css";

export interface ViewLocals {
  /** Page title, shown before "Gatehouse" in the window title. */
  title: string;
  [name: string]: unknown;
}

/**
 * Renders views/<name>.ejs inside its layout (views/<dir>/layout.ejs for a view in a folder, else
 * views/layout.ejs). Compiled templates are cached by ejs, keyed by file.
 */
export async function renderView(name: string, locals: ViewLocals): Promise<string> {
  const options = { cache: true, async: false } as const;
  const body = await ejs.renderFile(`${VIEWS}${name}.ejs`, locals, options);
  const folder = path.dirname(name);
  const layout = folder === "." ? `${VIEWS}layout.ejs` : `${VIEWS}${folder}/layout.ejs`;
  return ejs.renderFile(layout, { ...locals, stylesheet: STYLESHEET, body }, options);
}

/** Answers with a rendered page; status defaults to whatever the response already carries. */
export async function sendPage(ctx: Context, name: string, locals: ViewLocals, status?: number): Promise<void> {
  const html = await renderView(name, locals);
  if (status) ctx.status = status;
  ctx.type = "html";
  ctx.body = html;
}

const TYPES: Record<string, string> = { ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml" };

/** Serves views/assets/* (style-src and script-src 'self' allow them; nothing inline anywhere). */
export function serveAssets(): Middleware {
  const files = new Map<string, { type: string; content: Buffer }>();
  for (const file of fs.readdirSync(ASSETS)) {
    const type = TYPES[path.extname(file)];
    if (type) files.set(`/assets/${file}`, { type, content: fs.readFileSync(path.join(ASSETS, file)) });
  }
  return async function assets(ctx, next) {
    const asset = files.get(ctx.path);
    if (!asset || (ctx.method !== "GET" && ctx.method !== "HEAD")) return next();
    ctx.type = asset.type;
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.body = asset.content;
  };
}
