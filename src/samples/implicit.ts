// OpenID Connect implicit (legacy): the ID token and access token come back in the redirect URI's
// fragment, straight from the authorization endpoint. RFC 9700 §2.1.2 says not to use it (tokens in
// URLs leak through history and referrers); use `gatehouse sample spa` instead. Gatehouse sends implicit
// responses only to https redirect URIs off loopback, so this sample cannot receive one on its loopback
// server: it registers https://implicit-sample.gatehouse.test/callback, a name that resolves nowhere.
// After signing in the browser shows an error page for that address, with the tokens in its fragment;
// the person pastes that address into the sample's page, which checks the response like a real client:
// state, the ID token's signature (the server's JWKS), iss, aud, exp, nonce and at_hash (jose: openid-client
// v6 validates only response_type=id_token), then calls userinfo with the access token (openid-client).
import crypto from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oidc from "openid-client";
import { errorPage, escapeHtml, fromOwnPage, notFound, page, resultPage, serveUntilDone } from "./loopback.ts";
import { sampleClient } from "./register.ts";
import { SampleError, reason, type Flow } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

export const IMPLICIT_REDIRECT_URI = "https://implicit-sample.gatehouse.test/callback";

/** The hash an ID token's at_hash is made with, by its signing algorithm (OpenID Connect Core §3.2.2.9). */
function hashOf(alg: string): string {
  if (alg === "EdDSA" || alg.endsWith("512")) return "sha512";
  return alg.endsWith("384") ? "sha384" : "sha256";
}

/** at_hash: the left half of the access token's hash, base64url. */
function atHash(accessToken: string, alg: string): string {
  const digest = crypto.hash(hashOf(alg), accessToken, "buffer");
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

export const implicit: Flow = {
  name: "implicit",
  grant: "implicit (id_token token)",
  description: "legacy: tokens in the redirect's fragment; you paste the address back (migrate to spa)",
  interactive: true,
  async run(context) {
    const scope = "openid profile email";
    return serveUntilDone(context, { what: "the sign-in" }, async (_origin, done) => {
      const { clientId, config } = await sampleClient(context, "implicit", { public: true, grant_types: ["implicit"], redirect_uris: [IMPLICIT_REDIRECT_URI], scopes: scope.split(" ") });
      const server = config.serverMetadata();
      const keys = createRemoteJWKSet(new URL(server.jwks_uri!));
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const authorizationUrl = oidc.buildAuthorizationUrl(config, { redirect_uri: IMPLICIT_REDIRECT_URI, response_type: "id_token token", scope, state, nonce }).href;

      /**
       * Checks a pasted redirect address and gets the user's claims.
       * @throws SampleError naming what is wrong
       */
      async function check(address: string) {
        const url = URL.parse(address.trim());
        if (!url || `${url.origin}${url.pathname}` !== IMPLICIT_REDIRECT_URI) throw new SampleError(`paste the whole address starting with ${IMPLICIT_REDIRECT_URI}`);
        const answer = new URLSearchParams(url.hash.slice(1));
        if (answer.get("error")) throw new SampleError(`Gatehouse answered ${answer.get("error")}: ${answer.get("error_description") ?? ""}`);
        if (answer.get("state") !== state) throw new SampleError("the state does not match this sign-in (paste the address of the latest one)");
        const accessToken = answer.get("access_token");
        const idToken = answer.get("id_token");
        if (!accessToken || !idToken) throw new SampleError("the address has no access_token and id_token in its #fragment (copy it whole)");
        const { payload, protectedHeader } = await jwtVerify(idToken, keys, { issuer: server.issuer, audience: clientId }).catch((error: unknown) => {
          throw new SampleError(`the ID token does not verify: ${reason(error)}`);
        });
        if (payload.nonce !== nonce) throw new SampleError("the ID token's nonce is not this sign-in's");
        if (payload.at_hash !== atHash(accessToken, protectedHeader.alg)) throw new SampleError("the ID token's at_hash does not match the access token");
        const userinfo = await oidc.fetchUserInfo(config, accessToken, payload.sub!);
        const tokens = describeTokens({ token_type: answer.get("token_type") ?? "", access_token: accessToken, id_token: idToken, scope: answer.get("scope") ?? undefined, expires_in: Number(answer.get("expires_in")) || undefined });
        return { client_id: clientId, redirect_uri: IMPLICIT_REDIRECT_URI, tokens, id_token_checks: ["signature", "iss", "aud", "exp", "nonce", "at_hash"], userinfo };
      }

      return {
        open: "/",
        async handle(request) {
          const { method, url, body } = request;
          if (method === "GET" && url.pathname === "/") {
            return page(
              "Implicit (legacy)",
              `<h1>Implicit flow (legacy)</h1>
<p>Gatehouse returns implicit tokens in the address's <code>#fragment</code>, and only to an https address that is not this
machine. This sample (public client <code>${escapeHtml(clientId)}</code>) registered <code>${IMPLICIT_REDIRECT_URI}</code>, which
resolves nowhere: after you sign in, your browser shows an error page for it. <strong>Copy that whole address</strong> (with the
part after <code>#</code>) and paste it below. For a new app use the code flow with PKCE (<code>gatehouse sample spa</code>).</p>
<p><a class="button" href="${escapeHtml(authorizationUrl)}" target="_blank" rel="noopener">Sign in with Gatehouse</a></p>
<form method="post" action="/finish">
<label for="address">The address your browser shows after signing in</label>
<input id="address" name="address" type="url" required placeholder="${IMPLICIT_REDIRECT_URI}#access_token=…" autocomplete="off">
<button type="submit">Check the tokens</button>
</form>`,
            );
          }
          if (method === "POST" && url.pathname === "/finish" && fromOwnPage(request)) {
            try {
              const report = await check(new URLSearchParams(body).get("address") ?? "");
              const claims = report.tokens.id_token?.claims ?? {};
              return { ...resultPage("Implicit (legacy)", { user: claims.sub, name: report.userinfo.name ?? "-", scope: report.tokens.scope, expires_at: report.tokens.expires_at }, report), finish: () => done.resolve(report) };
            } catch (error) {
              const message = error instanceof SampleError ? error.message : `the implicit response failed: ${reason(error)}`;
              return { ...errorPage("Implicit (legacy)", message), finish: () => done.reject(new SampleError(message)) };
            }
          }
          return notFound;
        },
      };
    });
  },
};
