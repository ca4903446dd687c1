// A single-page app: the authorization code flow with PKCE done in the browser (spa-browser.js, plain
// fetch and WebCrypto), a public client with no secret, the current advice for browser apps (RFC 9700
// §2.1.1, the OAuth browser-based apps BCP). The sample serves the page on loopback, registers the page's
// address as the redirect URI (which is also what lets its origin call the token endpoint cross-origin:
// oidc-provider's CORS policy for public clients), and prints what the page reports.
import fs from "node:fs";
import { escapeHtml, fromOwnPage, notFound, page, serveUntilDone } from "./loopback.ts";
import { sampleApi, sampleClient } from "./register.ts";
import { SampleError, type Flow } from "./sample.ts";

const SCRIPT = fs.readFileSync(new URL("./spa-browser.js", import.meta.url), "utf8");

/** The page: a start panel and a result panel that the script fills in. */
function spaPage(clientId: string, issuer: string, api: string) {
  return page(
    "Single-page app",
    `<h1>Single-page app: code flow with PKCE in the browser</h1>
<section id="start" hidden>
<p>This page is a browser app with no backend of its own (public client <code>${escapeHtml(clientId)}</code>). It makes a PKCE
challenge with WebCrypto, sends you to Gatehouse at <code>${escapeHtml(issuer)}</code>, and exchanges the code it gets back
with <code>fetch</code> for tokens for <code>${escapeHtml(api)}</code>.</p>
<p><button id="sign-in" type="button">Sign in with Gatehouse</button></p>
</section>
<section id="result" hidden>
<p id="status" class="status"></p>
<dl id="facts"></dl>
<h2 id="details-heading" hidden>What the page got</h2>
<pre id="details"></pre>
</section>`,
    "/spa.js",
  );
}

export const spa: Flow = {
  name: "spa",
  grant: "authorization_code + PKCE (public client)",
  description: "a browser app with no backend signs a user in: code + PKCE with fetch and WebCrypto, no secret",
  interactive: true,
  async run(context) {
    const api = await sampleApi(context);
    const scope = ["openid", "profile", "email", ...api.scopes].join(" ");
    const issuerOrigin = new URL(context.issuer).origin;
    return serveUntilDone(context, { what: "the sign-in", connect: [issuerOrigin] }, async (origin, done) => {
      const redirectUri = `${origin}/callback`;
      const { clientId } = await sampleClient(context, "spa", { public: true, grant_types: ["authorization_code"], redirect_uris: [redirectUri], scopes: scope.split(" ") });
      const settings = { issuer: context.issuer, client_id: clientId, redirect_uri: redirectUri, scope, resource: api.identifier };
      return {
        open: "/",
        handle(request) {
          const { method, url, headers, body } = request;
          if (method === "GET" && (url.pathname === "/" || url.pathname === "/callback")) return spaPage(clientId, context.issuer, api.identifier);
          if (method === "GET" && url.pathname === "/spa.js") return { headers: { "content-type": "text/javascript; charset=utf-8" }, body: SCRIPT };
          if (method === "GET" && url.pathname === "/settings.json") return { headers: { "content-type": "application/json" }, body: JSON.stringify(settings) };
          // The page's report: only from this origin, as JSON (a form post from elsewhere cannot end the sample).
          if (method === "POST" && url.pathname === "/report" && fromOwnPage(request) && headers["content-type"] === "application/json") {
            const result = JSON.parse(body) as Record<string, unknown>;
            const finish =
              typeof result.error === "string" ? () => done.reject(new SampleError(`the single-page app failed: ${result.error}`)) : () => done.resolve({ client_id: clientId, api: api.identifier, redirect_uri: redirectUri, tokens: result });
            return { status: 204, finish };
          }
          return notFound;
        },
      };
    });
  },
};
