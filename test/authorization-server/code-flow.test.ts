// Authorization code with PKCE through the real login and consent pages, driven by openid-client:
// ID tokens, userinfo, remembered consent, refresh rotation with reuse detection, and the refusals.
import * as oidc from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const API = "https://orders.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";
const CODE_TTL = 3;

describe.each(BACKENDS)("authorization code flow on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let web: oidc.Configuration;
  let spa: oidc.Configuration;
  let aliceId: string;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    const ids = await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      const { user: alice } = await services.users.create({
        username: "alice", password: PASSWORD, email: "alice@example.com", claims: { name: "Alice Liddell", email_verified: true },
      });
      const webClient = await services.clients.create({
        client_name: "Web app", grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], scopes: ["orders:read"],
        post_logout_redirect_uris: ["http://127.0.0.1:9/bye"],
      });
      const spaClient = await services.clients.create({
        client_name: "Single page app", public: true, grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT],
      });
      return { alice: alice.id, web: webClient, spa: spaClient.client.client_id };
    });
    aliceId = ids.alice;
    gatehouse = await startGatehouse(db, { AUTHORIZATION_CODE_TTL: String(CODE_TTL) });
    const insecure = { execute: [oidc.allowInsecureRequests] };
    web = await oidc.discovery(new URL(gatehouse.issuer), ids.web.client.client_id, ids.web.client_secret!, undefined, insecure);
    spa = await oidc.discovery(new URL(gatehouse.issuer), ids.spa, undefined, oidc.None(), insecure);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  /** Starts an authorization request; returns what is needed to finish it. */
  async function authorize(config: oidc.Configuration, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const all: Record<string, string> = {
      redirect_uri: REDIRECT,
      scope: "openid profile email orders:read",
      resource: API,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      ...params,
    };
    // An empty value leaves the parameter out.
    const url = oidc.buildAuthorizationUrl(config, Object.fromEntries(Object.entries(all).filter(([, v]) => v !== "")));
    return { url: url.href, verifier, state };
  }

  /** Signs in through the login form and approves the consent page if one is shown. */
  async function signIn(agent: UserAgent, url: string, password = PASSWORD) {
    const start = await agent.follow(url, gatehouse.issuer);
    expect(start.page?.html).toContain('name="password"');
    let result = await agent.submit(start.page!, { username: "alice", password }, gatehouse.issuer);
    let consentShown = false;
    if (result.page && /Allow access/.test(result.page.html)) {
      consentShown = true;
      result = await agent.submit(result.page, {}, gatehouse.issuer);
    }
    return { ...result, consentShown };
  }

  test("signs in, consents and gets ID, access and refresh tokens", async () => {
    const request = await authorize(web);
    const agent = new UserAgent();
    const result = await signIn(agent, request.url);
    expect(result.consentShown).toBe(true);
    expect(result.redirect).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);

    // The token request names the API (RFC 8707): without it, a grant with openid gets a token for userinfo.
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state }, { resource: API });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(aliceId);
    expect(claims.iss).toBe(gatehouse.issuer);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    // The access token is for the API, so its scope is the API's part of the grant (RFC 8707).
    expect(tokens.scope).toBe("orders:read");
    expect(claims.aud).toBe(web.clientMetadata().client_id);

    const jwks = createRemoteJWKSet(new URL(`${gatehouse.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: gatehouse.issuer, audience: API, typ: "at+jwt" });
    expect(payload).toMatchObject({ sub: aliceId, scope: "orders:read", client_id: web.clientMetadata().client_id });
  });

  test("userinfo releases claims by scope", async () => {
    const agent = new UserAgent();
    const full = await authorize(web, { scope: "openid profile email", resource: "" });
    const fullResult = await signIn(agent, full.url);
    const fullTokens = await oidc.authorizationCodeGrant(web, new URL(fullResult.redirect!), { pkceCodeVerifier: full.verifier, expectedState: full.state });
    const info = await oidc.fetchUserInfo(web, fullTokens.access_token, aliceId);
    expect(info).toMatchObject({ sub: aliceId, name: "Alice Liddell", email: "alice@example.com", email_verified: true, preferred_username: "alice" });

    const narrow = await authorize(web, { scope: "openid", resource: "" });
    const narrowResult = await signIn(new UserAgent(), narrow.url);
    const narrowTokens = await oidc.authorizationCodeGrant(web, new URL(narrowResult.redirect!), { pkceCodeVerifier: narrow.verifier, expectedState: narrow.state });
    expect(await oidc.fetchUserInfo(web, narrowTokens.access_token, aliceId)).toEqual({ sub: aliceId });
  });

  // Accounts come from the catalog's users in use (catalog.ts): a change made by another process (here
  // this test's own storage connection, as the CLI or another instance would) reaches them through the
  // change log. Without the catalog following it, userinfo would serve the old claims until a restart.
  test("a user's claims changed by another process reach userinfo (the server's user cache follows the change log)", async () => {
    const request = await authorize(web, { scope: "openid profile email", resource: "" });
    const result = await signIn(new UserAgent(), request.url);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    for (let i = 0; i < 2; i++) expect(await oidc.fetchUserInfo(web, tokens.access_token, aliceId)).toMatchObject({ name: "Alice Liddell" });
    const changedAt = Date.now();
    await withServices(db, (services) => services.users.update("alice", { claims: { name: "Alice P. Liddell", email_verified: true } }));
    try {
      let name: unknown;
      while ((name = (await oidc.fetchUserInfo(web, tokens.access_token, aliceId)).name) !== "Alice P. Liddell" && Date.now() - changedAt < 5000) await new Promise((r) => setTimeout(r, 50));
      expect([name, Date.now() - changedAt < 5000]).toEqual(["Alice P. Liddell", true]);
    } finally {
      await withServices(db, (services) => services.users.update("alice", { claims: { name: "Alice Liddell", email_verified: true } }));
    }
  });

  test("consent is remembered per user and client across sessions", async () => {
    const spaRequest = { scope: "openid profile", resource: "" };
    const first = await signIn(new UserAgent(), (await authorize(spa, spaRequest)).url);
    expect(first.consentShown).toBe(true);
    expect(first.redirect).toMatch(/code=/);
    const second = await signIn(new UserAgent(), (await authorize(spa, spaRequest)).url);
    expect(second.consentShown).toBe(false);
    expect(second.redirect).toMatch(/code=/);
  });

  test("refresh tokens rotate; replaying a used one (beyond one retry within the grace period) revokes the whole grant", async () => {
    const request = await authorize(web);
    const result = await signIn(new UserAgent(), request.url);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(await oidc.tokenIntrospection(web, refreshed.access_token)).toMatchObject({ active: true });

    // Within REFRESH_TOKEN_REUSE_GRACE the rotated token works once more (its response may have been lost)...
    const retried = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    expect(retried.refresh_token).not.toBe(refreshed.refresh_token);
    // ...and only once: the next presentation is reuse, which revokes the whole grant.
    await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.refreshTokenGrant(web, refreshed.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.refreshTokenGrant(web, retried.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    expect(await oidc.tokenIntrospection(web, refreshed.access_token)).toEqual({ active: false });
  });

  test("revoking a refresh token ends it and its grant's JWT access tokens", async () => {
    const request = await authorize(web);
    const result = await signIn(new UserAgent(), request.url);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    await oidc.tokenRevocation(web, tokens.refresh_token!);
    expect(await oidc.tokenIntrospection(web, tokens.refresh_token!)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(web, tokens.access_token)).toEqual({ active: false });
  });

  test("a code works once; its reuse is invalid_grant and revokes what it issued", async () => {
    const request = await authorize(web);
    const result = await signIn(new UserAgent(), request.url);
    const callback = new URL(result.redirect!);
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state });
    await expect(
      oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state }),
    ).rejects.toMatchObject({ error: "invalid_grant" });
    expect(await oidc.tokenIntrospection(web, tokens.refresh_token!)).toEqual({ active: false });
  });

  test("a PKCE verifier that does not match is invalid_grant", async () => {
    const request = await authorize(web);
    const result = await signIn(new UserAgent(), request.url);
    await expect(
      oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: request.state }),
    ).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("a request without PKCE is refused on the redirect", async () => {
    const url = new URL((await authorize(web)).url);
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
    const result = await new UserAgent().follow(url.href, gatehouse.issuer);
    const redirect = new URL(result.redirect!);
    expect(redirect.origin + redirect.pathname).toBe(REDIRECT);
    expect(redirect.searchParams.get("error")).toBe("invalid_request");
    expect(redirect.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  test("plain PKCE is refused", async () => {
    const url = new URL((await authorize(web)).url);
    url.searchParams.set("code_challenge_method", "plain");
    const result = await new UserAgent().follow(url.href, gatehouse.issuer);
    expect(new URL(result.redirect!).searchParams.get("error")).toBe("invalid_request");
  });

  test("an unregistered redirect_uri gets an error page, never a redirect", async () => {
    const url = new URL((await authorize(web)).url);
    url.searchParams.set("redirect_uri", "https://attacker.example.com/cb");
    const result = await new UserAgent().follow(url.href, gatehouse.issuer);
    expect(result.redirect).toBeUndefined();
    expect(result.page!.status).toBe(400);
    expect(result.page!.html).toContain("invalid_redirect_uri");
    expect(result.page!.html).not.toContain("attacker.example.com/cb\"");
  });

  test("a scope the client may not have is refused", async () => {
    const url = new URL((await authorize(spa)).url);
    url.searchParams.set("scope", "openid orders:read");
    const result = await new UserAgent().follow(url.href, gatehouse.issuer);
    expect(new URL(result.redirect!).searchParams.get("error")).toBe("invalid_scope");
  });

  test("an expired code is invalid_grant", async () => {
    const request = await authorize(web);
    const result = await signIn(new UserAgent(), request.url);
    await new Promise((r) => setTimeout(r, (CODE_TTL + 1) * 1000));
    await expect(
      oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state }),
    ).rejects.toMatchObject({ error: "invalid_grant" });
  });

  test("RP-initiated logout ends the session and returns to the registered URI", async () => {
    const agent = new UserAgent();
    const request = await authorize(web);
    const result = await signIn(agent, request.url);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: request.verifier, expectedState: request.state });
    const logout = oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: "http://127.0.0.1:9/bye", state: "s1" });
    const confirm = await agent.follow(logout.href, gatehouse.issuer);
    expect(confirm.page?.html).toMatch(/sign (me )?out/i);
    const done = await agent.submit(confirm.page!, { logout: "yes" }, gatehouse.issuer);
    expect(done.redirect).toBe("http://127.0.0.1:9/bye?state=s1");
    // The session is gone: a new authorization asks for the password again.
    const again = await agent.follow((await authorize(web)).url, gatehouse.issuer);
    expect(again.page?.html).toContain('name="password"');
  });
});
