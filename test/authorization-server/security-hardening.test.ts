// The authorization server's answers to the faults an outside attack run found, each with its relatives:
// URLs built from the request's Host, repeated headers, tokens that outlive a disabled client or user,
// refused refreshes that burned the token, introspection by strangers, the wrong error code for a grant,
// redirect URIs and secrets that registration should refuse, and loopback ports for native apps.
import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const API = "https://orders.example.com";
const OPAQUE = "https://opaque.example.com";
const OTHER_API = "https://billing.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";

type Registered = { id: string; secret?: string };

/** A raw HTTP/1.1 request, for what fetch and http.request will not send (repeated or forged headers). */
function rawRequest(port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(head));
    let data = "";
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("end", () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0), text: data }));
    socket.on("error", reject);
  });
}

/** GET with headers fetch would not let through (Host). */
function getWithHeaders(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

describe.each(BACKENDS)("security hardening of the authorization server on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let gatewayUrl: string;
  const clients: Record<string, Registered> = {};
  const users: Record<string, string> = {};

  beforeAll(async () => {
    db = await freshDatabase(backend);
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: OTHER_API, name: "Billing", scopes: ["billing:read"] });
      await services.routes.apply(API, { path_prefix: "/orders", upstream: upstream.url, scopes: { "*": { all_of: ["orders:read"], any_of: [] } } });
      const machine = async (name: string, scopes = ["orders:read"]) => {
        const { client, client_secret: clientSecret } = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes });
        clients[name] = { id: client.client_id, secret: clientSecret };
      };
      for (const name of ["worker", "stranger", "to-disable", "to-delete", "to-revoke"]) await machine(name);
      await machine("resource-server", []);
      await services.apis.apply({
        identifier: OPAQUE, name: "Opaque", token_format: "opaque", scopes: ["orders:read"], introspection_clients: [clients["resource-server"]!.id],
      });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"], introspection_clients: [clients["resource-server"]!.id] });
      await machine("opaque-worker");
      const web = await services.clients.create({
        client_name: "Web app", grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], scopes: ["orders:read", "billing:read"],
      });
      clients.web = { id: web.client.client_id, secret: web.client_secret };
      const native = await services.clients.create({
        client_name: "Native app", application_type: "native", grant_types: ["authorization_code"], redirect_uris: ["http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/callback"],
      });
      clients.native = { id: native.client.client_id };
      const webLoopback = await services.clients.create({ client_name: "Web on loopback", public: true, grant_types: ["authorization_code"], redirect_uris: ["http://127.0.0.1/callback"] });
      clients.webLoopback = { id: webLoopback.client.client_id };
      for (const username of ["alice", "bob", "carol", "dave"]) {
        users[username] = (await services.users.create({ username, password: PASSWORD })).user.id;
      }
    });
    // No reuse grace here: the refresh tests below count on strict reuse detection.
    gatehouse = await startGatehouse(db, { REFRESH_TOKEN_REUSE_GRACE: "0" });
    gatewayUrl = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  const insecure = { execute: [oidc.allowInsecureRequests] };
  const configFor = (name: string) => oidc.discovery(new URL(gatehouse.issuer), clients[name]!.id, clients[name]!.secret, undefined, insecure);
  const machineToken = async (name: string, resource = API) => (await oidc.clientCredentialsGrant(await configFor(name), { scope: "orders:read", resource })).access_token;
  const callGateway = (token: string) => fetch(`${gatewayUrl}/orders/1`, { headers: { authorization: `Bearer ${token}` } });

  /** A code flow for `username` through the real login and consent pages; returns the tokens and the browser. */
  async function codeFlow(username: string, extra: Record<string, string> = {}) {
    const web = await configFor("web");
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: REDIRECT, scope: "openid offline_access orders:read", resource: API, prompt: "consent",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", ...extra,
    });
    const agent = new UserAgent();
    const start = await agent.follow(url.href, gatehouse.issuer);
    let result = await agent.submit(start.page!, { username, password: PASSWORD }, gatehouse.issuer);
    if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, gatehouse.issuer);
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.redirect!), { pkceCodeVerifier: verifier }, { resource: API });
    return { web, tokens, agent };
  }

  describe("every URL is built from ISSUER", () => {
    const forged: Array<Record<string, string>> = [
      { host: "evil.example" },
      { host: "evil.example:3000", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
      { forwarded: "host=evil.example;proto=https", "x-forwarded-port": "443", "x-original-host": "evil.example" },
      { "x_forwarded_host": "evil.example" },
    ];

    test.each(forged)("discovery ignores %p and may be cached", async (headers) => {
      const response = await getWithHeaders(`${gatehouse.issuer}/.well-known/openid-configuration`, headers);
      expect(response.status).toBe(200);
      const metadata = JSON.parse(response.body) as Record<string, unknown>;
      const urls = Object.entries(metadata).filter(([, value]) => typeof value === "string" && /^https?:/.test(value));
      expect(urls.length).toBeGreaterThan(5);
      for (const [, value] of urls) expect(value).toMatch(new RegExp(`^${gatehouse.issuer}(/|$)`));
      expect(response.body).not.toContain("evil.example");
      expect(response.headers["cache-control"]).toBe("public, max-age=300");
    });

    test("the JWKS may be cached; redirects to the login page stay on the issuer", async () => {
      const jwks = await getWithHeaders(`${gatehouse.issuer}/jwks`, { host: "evil.example" });
      expect(jwks.status).toBe(200);
      expect(jwks.headers["cache-control"]).toBe("public, max-age=300");
      const web = await configFor("web");
      const url = oidc.buildAuthorizationUrl(web, {
        redirect_uri: REDIRECT, scope: "openid", code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: "S256",
      });
      const redirect = await getWithHeaders(url.href, { host: "evil.example", "x-forwarded-host": "evil.example" });
      expect(redirect.status).toBe(303);
      expect(new URL(redirect.headers.location!, gatehouse.issuer).origin).toBe(gatehouse.issuer);
      expect(redirect.headers.location).not.toContain("evil");
    });

    test.each(["Host", "Content-Length", "Authorization"])("a repeated %s header is refused with 400", async (name) => {
      const port = gatehouse.port;
      const base = `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n`;
      const body = "grant_type=client_credentials";
      const headers: Record<string, string> = {
        Host: `Host: evil.example\r\nContent-Length: ${body.length}\r\n`,
        "Content-Length": `Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\n`,
        Authorization: `Content-Length: ${body.length}\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\n`,
      };
      const response = await rawRequest(port, `${base}${headers[name]}\r\n${body}`);
      expect(response.status).toBe(400);
      expect(response.text).not.toMatch(/at .*\.(ts|js):\d+/);
    });
  });

  describe("disabling, deleting and revoking end what was issued", () => {
    test.each(["to-disable", "to-delete", "to-revoke"])("client %s: its JWT access tokens stop at introspection and the gateway", async (name) => {
      const token = await machineToken(name);
      expect((await callGateway(token)).status).toBe(200);
      const config = await configFor(name);
      expect(await oidc.tokenIntrospection(config, token)).toMatchObject({ active: true });
      await withServices(db, async (services) => {
        if (name === "to-disable") await services.clients.update(clients[name]!.id, { enabled: false });
        else if (name === "to-delete") await services.clients.delete(clients[name]!.id);
        else await services.clients.revokeTokens(clients[name]!.id);
      });
      await configPropagation();
      const refused = await callGateway(token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
      const resourceServer = await configFor("resource-server");
      expect(await oidc.tokenIntrospection(resourceServer, token)).toEqual({ active: false });
      if (name === "to-revoke") {
        // The client itself goes on: a token issued after the mark (one-second resolution) is good.
        await new Promise((r) => setTimeout(r, 1100));
        expect((await callGateway(await machineToken(name))).status).toBe(200);
      } else {
        await expect(machineToken(name)).rejects.toMatchObject({ error: "invalid_client" });
      }
    });

    test.each([
      ["alice", "set-password"],
      ["bob", "disable"],
      ["carol", "revoke-sessions"],
      ["dave", "delete"],
    ])("user %s, %s: refresh tokens, JWT access tokens and sessions end", async (username, action) => {
      const { web, tokens, agent } = await codeFlow(username);
      expect((await callGateway(tokens.access_token)).status).toBe(200);
      await withServices(db, async (services) => {
        if (action === "set-password") await services.users.setPassword(username, "a brand new password 123");
        else if (action === "disable") await services.users.update(username, { enabled: false });
        else if (action === "revoke-sessions") await services.users.revokeSessions(username);
        else await services.users.delete(username);
      });
      await configPropagation();
      expect((await callGateway(tokens.access_token)).status).toBe(401);
      expect(await oidc.tokenIntrospection(web, tokens.access_token)).toEqual({ active: false });
      await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
      // The browser's session is gone: signing in again asks for the password.
      const again = oidc.buildAuthorizationUrl(web, {
        redirect_uri: REDIRECT, scope: "openid", code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: "S256",
      });
      expect((await agent.follow(again.href, gatehouse.issuer)).page?.html).toContain('name="password"');
    });
  });

  describe("a refused refresh does not consume the refresh token", () => {
    test.each([
      ["an API outside the grant", OTHER_API],
      ["an unknown API", "https://unknown.example.com"],
    ])("invalid_target for %s, then the same refresh token still works", async (_label, resource) => {
      const { web, tokens } = await codeFlow(await newUser(`refresher-${Object.keys(users).length}`));
      await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource })).rejects.toMatchObject({ error: "invalid_target" });
      const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource: API });
      expect(refreshed.access_token).toEqual(expect.any(String));
      expect(decodeJwt(refreshed.access_token).aud).toBe(API);
      // And the rotated token is the one that works now: reuse detection is intact.
      await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    });
  });

  async function newUser(username: string): Promise<string> {
    users[username] = await withServices(db, async (services) => (await services.users.create({ username, password: PASSWORD })).user.id);
    return username;
  }

  describe("introspection answers only those entitled to the token", () => {
    test.each([
      ["JWT", API, "worker"],
      ["opaque", OPAQUE, "opaque-worker"],
    ])("%s: the token's client and the API's resource server see it; any other client sees active:false", async (_format, resource, owner) => {
      const token = await machineToken(owner, resource);
      expect(await oidc.tokenIntrospection(await configFor(owner), token)).toMatchObject({ active: true, client_id: clients[owner]!.id });
      expect(await oidc.tokenIntrospection(await configFor("resource-server"), token)).toMatchObject({ active: true });
      expect(await oidc.tokenIntrospection(await configFor("stranger"), token)).toEqual({ active: false });
      // Revocation by another client has no effect.
      await oidc.tokenRevocation(await configFor("stranger"), token).catch(() => undefined);
      expect(await oidc.tokenIntrospection(await configFor(owner), token)).toMatchObject({ active: true });
    });
  });

  test.each(["refresh_token", "authorization_code", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer"])("a grant the client may not use (%s) is unauthorized_client", async (grantType) => {
    const { id, secret } = clients.worker!;
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: grantType, refresh_token: "x", code: "x", redirect_uri: REDIRECT, code_verifier: "x".repeat(43), username: "alice", password: "x", assertion: "x" }),
    });
    const body = (await response.json()) as { error: string };
    expect(response.status).toBe(400);
    expect(body.error).toBe("unauthorized_client");
  });

  test("a grant this server does not have is unsupported_grant_type", async () => {
    const { id, secret } = clients.worker!;
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:example:made-up" }),
    });
    expect(await response.json()).toMatchObject({ error: "unsupported_grant_type" });
  });

  describe("native apps may use any loopback port (RFC 8252 §7.3); web apps may not", () => {
    async function authorizationPage(clientId: string, redirectUri: string) {
      const url = new URL(`${gatehouse.issuer}/authorize`);
      const challenge = crypto.createHash("sha256").update(crypto.randomBytes(32).toString("base64url")).digest("base64url");
      url.search = new URLSearchParams({ client_id: clientId, response_type: "code", scope: "openid", redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256" }).toString();
      return new UserAgent().follow(url.href, gatehouse.issuer);
    }

    test.each(["http://127.0.0.1:51004/callback", "http://[::1]:60123/callback", "http://127.0.0.1/callback", "com.example.app:/callback"])("native: %s reaches the login page", async (uri) => {
      const result = await authorizationPage(clients.native!.id, uri);
      expect(result.page?.html).toContain('name="password"');
    });

    test.each(["http://127.0.0.1:51004/other", "http://localhost:51004/callback", "http://127.0.0.1:51004/callback?x=1"])("native: %s is still refused", async (uri) => {
      const result = await authorizationPage(clients.native!.id, uri);
      expect(result.page?.status).toBe(400);
      expect(result.page?.html).toContain("invalid_redirect_uri");
    });

    test("a web client registered with a loopback URI gets exact matching", async () => {
      const result = await authorizationPage(clients.webLoopback!.id, "http://127.0.0.1:51004/callback");
      expect(result.page?.html).toContain("invalid_redirect_uri");
    });
  });
});

describe("registration refuses what can never be safe", () => {
  let db: FreshDatabase;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
  });

  afterAll(() => db?.drop());

  const register = (spec: Record<string, unknown>, secret?: string) =>
    withServices(db, (services) => services.clients.create({ client_name: "x", grant_types: ["authorization_code"], ...spec, ...(secret === undefined ? {} : { client_secret: secret }) }));

  test.each([
    ["javascript:alert(1)", /javascript scheme/],
    ["JavaScript:alert(1)//", /javascript scheme/],
    ["data:text/html,<script>alert(1)</script>", /data scheme/],
    ["vbscript:msgbox", /vbscript scheme/],
    ["file:///etc/passwd", /file scheme/],
    ["http://app.example.com/cb", /https/],
    ["https://*.example.com/cb", /wildcards/],
    ["https://app.example.com/*", /wildcards/],
    ["https://user:pass@app.example.com/cb", /user information/],
    ["https://app.example.com/cb#frag", /fragment/],
    ["com.example.app:/callback", /native apps only/],
    ["/relative/callback", /absolute URI/],
  ])("a web client cannot register %s", async (uri, reason) => {
    await expect(register({ redirect_uris: [uri] })).rejects.toThrow(reason);
    await expect(register({ redirect_uris: ["https://app.example.com/cb"], post_logout_redirect_uris: [uri] })).rejects.toThrow(reason);
  });

  test.each([
    ["myapp:/callback", /reverse domain/],
    ["https://127.0.0.1/callback", /http on loopback/],
    ["http://app.example.com/callback", /https/],
    ["javascript:alert(1)", /javascript scheme/],
  ])("a native app cannot register %s", async (uri, reason) => {
    await expect(register({ application_type: "native", redirect_uris: [uri] })).rejects.toThrow(reason);
  });

  // Forms that parsers read differently (WHATWG URL, RFC 3986 libraries), or that are not what they look like.
  test.each([
    ["https://example.com\\@evil.com/cb", /backslash/],
    ["https://example.com\\evil.com/cb", /backslash/],
    ["https://example.com/cb\\..\\x", /backslash/],
    ["https://example.com@evil.com/cb", /user information/],
    ["https://@evil.com/cb", /user information/],
    ["https:user@example.com/cb", /user information/],
    ["https:/example.com/cb", /canonical form: https:\/\/example\.com\/cb$/],
    ["https:example.com", /canonical form: https:\/\/example\.com\/$/],
    ["https:///cb", /must name a host/],
    ["https://", /absolute URI|must name a host/],
    ["https://example.com", /canonical form: https:\/\/example\.com\/$/],
    ["https://example.com:443/cb", /canonical form: https:\/\/example\.com\/cb$/],
    ["https://ex%61mple.com/cb", /canonical form: https:\/\/example\.com\/cb$/],
    ["https://0x7f.1/cb", /canonical form: https:\/\/127\.0\.0\.1\/cb$/],
    ["https://example.com/a/../cb", /canonical form: https:\/\/example\.com\/cb$/],
    ["https://example.com/./cb", /canonical form/],
    ["https://bücher.example/cb", /canonical form: https:\/\/xn--bcher-kva\.example\/cb$/],
    ["https://example.com/cb/ü", /canonical form: https:\/\/example\.com\/cb\/%C3%BC$/],
    ["\u0001https://example.com/cb", /canonical form/],
    ["https://example.com/cb\u007f", /canonical form/],
    ["http://[0:0:0:0:0:0:0:1]/cb", /canonical form: http:\/\/\[::1\]\/cb$/],
    ["https://example.com?x=1", /canonical form: https:\/\/example\.com\/\?x=1$/],
  ])("a web client cannot register %j", async (uri, reason) => {
    await expect(register({ redirect_uris: [uri] })).rejects.toThrow(reason);
    await expect(register({ redirect_uris: ["https://app.example.com/cb"], post_logout_redirect_uris: [uri] })).rejects.toThrow(reason);
  });

  test.each([
    ["com.example.app://user@cb", /user information/],
    ["com.example.app://user:pw@cb/x", /user information/],
    ["com.example.app://@cb", /user information/],
    ["com.example.app:/cb\\x", /backslash/],
    ["http://user@127.0.0.1/cb", /user information/],
    ["http:127.0.0.1/cb", /canonical form: http:\/\/127\.0\.0\.1\/cb$/],
    ["http://127.0.0.1:80/cb", /canonical form: http:\/\/127\.0\.0\.1\/cb$/],
    ["com.example.app:/a/../cb", /canonical form: com\.example\.app:\/cb$/],
  ])("a native app cannot register %j", async (uri, reason) => {
    await expect(register({ application_type: "native", redirect_uris: [uri] })).rejects.toThrow(reason);
  });

  test.each(["HTTPS://App.Example.COM/cb", "https://app.example.com/CB?x=1&y=%20", "https://app.example.com:8443/cb", "https://app.example.com/"])("a web client may register %s: canonical but for the case of scheme and host", async (uri) => {
    await expect(register({ redirect_uris: [uri] })).resolves.toMatchObject({ client: { redirect_uris: [uri] } });
  });

  test.each(["com.example.app:/callback", "com.example.app://callback", "com.example.app:/cb?x=1", "http://127.0.0.1/cb", "http://[::1]:51234/cb"])("a native app may register %s", async (uri) => {
    await expect(register({ application_type: "native", redirect_uris: [uri] })).resolves.toMatchObject({ client: { redirect_uris: [uri] } });
  });

  test.each(["https://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb"])("a web client may register %s", async (uri) => {
    await expect(register({ redirect_uris: [uri] })).resolves.toMatchObject({ client: { redirect_uris: [uri] } });
  });

  test("a native app is public and may register a reverse-domain scheme and loopback URIs", async () => {
    const { client, client_secret: clientSecret } = await register({ application_type: "native", redirect_uris: ["com.example.app:/callback", "http://127.0.0.1/cb"] });
    expect(client).toMatchObject({ application_type: "native", public: true, token_endpoint_auth_method: "none" });
    expect(clientSecret).toBeUndefined();
  });

  test.each(["pässwörd-0123456789abcdefghijklmnopqrstuv", "tab\tinside-0123456789abcdefghijklmnopqrstuv", "new\nline-0123456789abcdefghijklmnopqrstuv", "emoji-🔑-0123456789abcdefghijklmnopqrstuv"])(
    "a client secret outside printable ASCII is refused when set: %j",
    async (secret) => {
      await expect(register({ grant_types: ["client_credentials"] }, secret)).rejects.toThrow(/printable ASCII/);
    },
  );
});
