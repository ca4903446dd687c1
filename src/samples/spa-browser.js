// The browser half of `gatehouse sample spa`: a single-page app doing the authorization code flow with
// PKCE itself, with plain fetch and WebCrypto (no library, no bundler). It is a public client: it keeps
// no secret, proves with PKCE that the code is its own, and calls Gatehouse's token endpoint
// cross-origin (allowed because the client's registered redirect URI is on this page's origin).
// Tokens stay in this page's memory; only their decoded claims are shown and reported to the sample.

const STORAGE_KEY = "gatehouse-sample-spa";
const $ = (id) => document.getElementById(id);

/** base64url of bytes, no padding (RFC 7636 §4.2). */
function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 32 random bytes, base64url: a PKCE verifier, a state or a nonce. */
const randomValue = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** A JWT's header and claims, decoded (not verified); undefined for an opaque token. */
function decodeJwt(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const json = (part) => JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
  const { alg, typ, kid } = json(parts[0]);
  return { header: { alg, typ, kid }, claims: json(parts[1]) };
}

/** The first characters of a secret and its length. */
const abbreviate = (secret) => `${secret.slice(0, 6)}…(${secret.length} characters)`;

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

/** Sends the person to Gatehouse with a fresh PKCE challenge, state and nonce (kept in sessionStorage for the callback). */
async function signIn(settings, server) {
  const verifier = randomValue();
  const state = randomValue();
  const nonce = randomValue();
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ verifier, state, nonce }));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const url = new URL(server.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: settings.client_id,
    redirect_uri: settings.redirect_uri,
    scope: settings.scope,
    resource: settings.resource,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/**
 * The callback: checks the response (state, RFC 9207 iss), exchanges the code with the PKCE verifier at
 * the token endpoint, and checks the ID token's claims (iss, aud, nonce, exp; its signature is covered by
 * the TLS connection it came over, OpenID Connect Core §3.1.3.7).
 */
async function complete(settings, server, params) {
  const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
  sessionStorage.removeItem(STORAGE_KEY);
  history.replaceState(null, "", "/callback");
  if (params.get("error")) throw new Error(`Gatehouse answered ${params.get("error")}: ${params.get("error_description") ?? ""}`);
  if (!saved || params.get("state") !== saved.state) throw new Error("the state does not match this browser's sign-in (start again)");
  if (params.has("iss") && params.get("iss") !== server.issuer) throw new Error(`the response names issuer ${params.get("iss")}, not ${server.issuer}`);
  const response = await fetch(server.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") ?? "",
      redirect_uri: settings.redirect_uri,
      client_id: settings.client_id,
      code_verifier: saved.verifier,
      resource: settings.resource,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) throw new Error(`the token endpoint answered ${response.status} ${tokens.error}: ${tokens.error_description ?? ""}`);
  const idToken = decodeJwt(tokens.id_token ?? "");
  if (!idToken) throw new Error("the token response has no ID token");
  const { claims } = idToken;
  const audiences = [claims.aud].flat();
  const problems = [
    claims.iss !== server.issuer && "iss",
    !audiences.includes(settings.client_id) && "aud",
    claims.nonce !== saved.nonce && "nonce",
    !(claims.exp > Date.now() / 1000) && "exp",
  ].filter(Boolean);
  if (problems.length) throw new Error(`the ID token's ${problems.join(", ")} is wrong`);
  const access = decodeJwt(tokens.access_token);
  return {
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    expires_in: tokens.expires_in ?? null,
    expires_at: tokens.expires_in ? new Date(Date.now() + tokens.expires_in * 1000).toISOString() : null,
    access_token: access ? { format: "jwt", ...access } : { format: "opaque", value: abbreviate(tokens.access_token) },
    id_token: idToken,
    ...(tokens.refresh_token ? { refresh_token: abbreviate(tokens.refresh_token) } : {}),
    id_token_checks: ["iss", "aud", "nonce", "exp"],
  };
}

/** Shows the result on the page and hands it to the sample (which prints it and stops). */
async function report(result) {
  const failed = "error" in result;
  $("start").hidden = true;
  $("result").hidden = false;
  $("status").textContent = failed ? result.error : "Signed in. The terminal shows the same; the sample has finished.";
  $("status").className = `status ${failed ? "bad" : "ok"}`;
  $("status").setAttribute("role", failed ? "alert" : "status");
  if (!failed) {
    const facts = { user: result.id_token.claims.sub, name: result.id_token.claims.name ?? "-", scope: result.scope, expires_at: result.expires_at };
    $("facts").replaceChildren(...Object.entries(facts).flatMap(([name, value]) => [Object.assign(document.createElement("dt"), { textContent: name }), Object.assign(document.createElement("dd"), { textContent: String(value) })]));
    $("details").textContent = JSON.stringify(result, null, 2);
    $("details-heading").hidden = false;
  }
  await fetch("/report", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(result) });
}

async function main() {
  const settings = await getJson("/settings.json");
  const server = await getJson(`${settings.issuer}/.well-known/openid-configuration`);
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/callback") return report(await complete(settings, server, params));
  $("start").hidden = false;
  $("sign-in").addEventListener("click", () => signIn(settings, server).catch((error) => report({ error: error.message })));
}

main().catch((error) => report({ error: error.message }));
