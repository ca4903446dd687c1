// A server-side web app signing users in: the authorization code flow with PKCE (RFC 6749 §4.1,
// RFC 7636, OpenID Connect), a confidential client whose secret stays on the server. The sample serves
// the app on loopback: a start page, /login (redirect to Gatehouse with state, nonce and a PKCE
// challenge), and /callback (openid-client exchanges the code and checks the ID token), which shows what
// it got and ends the sample.
import * as oidc from "openid-client";
import { errorPage, escapeHtml, notFound, page, redirect, resultPage, serveUntilDone } from "./loopback.ts";
import { sampleApi, sampleClient } from "./register.ts";
import { SampleError, reason, type Flow } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

export const web: Flow = {
  name: "web",
  grant: "authorization_code + PKCE",
  description: "a server-side web app signs a user in in the browser (the recommended flow for apps with a backend)",
  interactive: true,
  async run(context) {
    const api = await sampleApi(context);
    const scope = ["openid", "profile", "email", ...api.scopes].join(" ");
    return serveUntilDone(context, { what: "the sign-in" }, async (origin, done) => {
      const redirectUri = `${origin}/callback`;
      const { clientId, config } = await sampleClient(context, "web", { grant_types: ["authorization_code"], redirect_uris: [redirectUri], scopes: scope.split(" ") });
      /** The one sign-in in progress: what the callback must match. */
      let started: { verifier: string; state: string; nonce: string } | undefined;
      return {
        open: "/",
        async handle({ url }) {
          if (url.pathname === "/") {
            return page(
              "Web app",
              `<h1>Web app: code flow with PKCE</h1>
<p>This page is a server-side app on your machine (client <code>${escapeHtml(clientId)}</code>). Signing in sends you to Gatehouse at
<code>${escapeHtml(context.issuer)}</code>; it sends you back to <code>${escapeHtml(redirectUri)}</code> with a code, which this app
exchanges, with its secret and PKCE verifier, for tokens for <code>${escapeHtml(api.identifier)}</code>.</p>
<p><a class="button" href="/login">Sign in with Gatehouse</a></p>`,
            );
          }
          if (url.pathname === "/login") {
            started = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
            const challenge = await oidc.calculatePKCECodeChallenge(started.verifier);
            return redirect(
              oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope, resource: api.identifier, state: started.state, nonce: started.nonce, code_challenge: challenge, code_challenge_method: "S256" }).href,
            );
          }
          if (url.pathname === "/callback") {
            if (!started) return redirect("/");
            const checks = { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce };
            try {
              const tokens = await oidc.authorizationCodeGrant(config, url, checks, { resource: api.identifier });
              const summary = describeTokens(tokens);
              const report = { client_id: clientId, api: api.identifier, redirect_uri: redirectUri, tokens: summary };
              const claims = tokens.claims();
              return { ...resultPage("Web app", { user: claims?.sub, name: claims?.name ?? "-", scope: summary.scope, expires_at: summary.expires_at }, report), finish: () => done.resolve(report) };
            } catch (error) {
              const message = `the sign-in failed: ${reason(error)}`;
              return { ...errorPage("Web app", message), finish: () => done.reject(new SampleError(message)) };
            }
          }
          return notFound;
        },
      };
    });
  },
};
