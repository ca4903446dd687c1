// The grants beyond code, client credentials and refresh, over real HTTP with openid-client, on both
// databases: resource owner password credentials (RFC 6749 §4.3), OpenID Connect implicit and hybrid
// (bare OAuth "token" refused with the alternatives named), and the JWT bearer assertion grant
// (RFC 7523) with real signed JWTs made here, including the hostile ones RFC 7523 and RFC 8725 name.
import http from "node:http";
import * as oidc from "openid-client";
import { SignJWT, UnsecuredJWT, decodeJwt, exportJWK, exportSPKI, generateKeyPair, type JWK } from "jose";
import crypto from "node:crypto";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const API = "https://orders.example.com";
const PASSWORD = "correct horse battery staple";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const IDP = "https://idp.example.com";
const ROTATING_IDP = "https://rotating-idp.example.com";
const SPA_REDIRECT = "https://app.example.com/callback";

type Registered = { id: string; secret?: string };

interface TokenError {
  status: number;
  error: string;
  error_description?: string;
  retryAfter: string | null;
}

describe.each(BACKENDS)("grants on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let second: RunningGatehouse;
  let jwksServer: http.Server;
  let jwksUrl: string;
  let served: { keys: JWK[] } = { keys: [] };
  const clients: Record<string, Registered> = {};
  const users: Record<string, string> = {};
  const keys: Record<string, { privateKey: CryptoKey; publicJwk: JWK; kid: string }> = {};

  async function keyPair(name: string, alg: "ES256" | "RS256") {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${name}-${crypto.randomBytes(4).toString("hex")}`;
    keys[name] = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" }, kid };
    return keys[name]!;
  }

  beforeAll(async () => {
    db = await freshDatabase(backend);
    await keyPair("idp", "ES256");
    await keyPair("idp-rsa", "RS256");
    await keyPair("stranger", "ES256");
    await keyPair("rotating-1", "ES256");
    await keyPair("rotating-2", "ES256");
    served = { keys: [keys["rotating-1"]!.publicJwk] };
    jwksServer = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served)));
    await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;

    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.scopes.apply({ name: "orders:write", description: "Change your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read", "orders:write"] });
      const register = async (name: string, input: Record<string, unknown>) => {
        const { client, client_secret } = await services.clients.create({ client_name: name, scopes: ["orders:read", "orders:write"], ...input } as never);
        clients[name] = { id: client.client_id, secret: client_secret };
        return client;
      };
      const legacy = await register("legacy", { grant_types: ["password", "refresh_token"] });
      expect(legacy.warnings).toEqual([expect.stringContaining("RFC 9700 §2.4")]);
      await register("no-password", { grant_types: ["client_credentials"] });
      await register("assertions", { grant_types: [JWT_BEARER, "refresh_token"] });
      await register("other-assertions", { grant_types: [JWT_BEARER] });
      const spa = await register("spa", { public: true, grant_types: ["implicit"], redirect_uris: [SPA_REDIRECT] });
      expect(spa.response_types.sort()).toEqual(["id_token", "id_token token"]);
      await register("hybrid", { grant_types: ["authorization_code", "implicit"], redirect_uris: [SPA_REDIRECT] });
      await register("code-only", { grant_types: ["authorization_code"], redirect_uris: [SPA_REDIRECT] });
      for (const username of ["alice", "bob", "hammered", "disabled"]) {
        users[username] = (await services.users.create({ username, email: `${username}@example.com`, password: PASSWORD, claims: { name: username.toUpperCase() } })).user.id;
      }
      await services.users.update("disabled", { enabled: false });
      await services.issuers.create({
        issuer: IDP, kind: "jwt", name: "Corporate IdP", jwks: { keys: [keys.idp!.publicJwk, keys["idp-rsa"]!.publicJwk] },
        clients: [clients.assertions!.id], subject_mapping: "username", scopes: ["openid", "offline_access", "orders:read"], max_assertion_lifetime: 300,
      });
      await services.issuers.create({
        issuer: "https://ci.example.com", kind: "jwt", name: "CI", jwks: { keys: [keys.idp!.publicJwk] },
        clients: [clients.assertions!.id], subject_mapping: "service", scopes: ["orders:read", "openid"],
      });
      await services.issuers.create({
        issuer: ROTATING_IDP, kind: "jwt", name: "Rotating", jwks_uri: jwksUrl, clients: [clients.assertions!.id], subject_mapping: "email", scopes: ["orders:read"],
      });
    });
    gatehouse = await startGatehouse(db, { LOGIN_MAX_FAILURES: "3", LOGIN_QUICK_FAILURE_MS: "0" });
  }, 60_000);

  afterAll(async () => {
    await second?.stop();
    await gatehouse?.stop();
    await new Promise((resolve) => jwksServer?.close(resolve));
    await db?.drop();
  });

  const insecure = { execute: [oidc.allowInsecureRequests] };
  const configFor = (name: string, issuer = gatehouse.issuer) => oidc.discovery(new URL(issuer), clients[name]!.id, clients[name]!.secret, undefined, insecure);

  /** A token request with plain fetch (client_secret_basic), for the refusals openid-client would throw on. */
  async function tokenRequest(name: string, params: Record<string, string>, issuer = gatehouse.issuer): Promise<TokenError & Record<string, unknown>> {
    const { id, secret } = clients[name]!;
    const response = await fetch(`${issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
      body: new URLSearchParams(params),
    });
    expect(response.headers.get("cache-control")).toMatch(/no-store/);
    return { ...((await response.json()) as TokenError), status: response.status, retryAfter: response.headers.get("retry-after") };
  }

  test("discovery lists every grant and response type the server has (clients still need them registered)", async () => {
    const metadata = (await (await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    expect(metadata.grant_types_supported).toEqual(
      expect.arrayContaining(["authorization_code", "refresh_token", "client_credentials", "implicit", "password", JWT_BEARER, "urn:ietf:params:oauth:grant-type:saml2-bearer"]),
    );
    expect(metadata.response_types_supported).toEqual(expect.arrayContaining(["code", "id_token", "id_token token", "code id_token"]));
    expect(metadata.response_types_supported).not.toContain("token");
  });

  describe("resource owner password credentials", () => {
    test("a client with the password grant gets access, refresh and ID tokens; the refresh token works", async () => {
      const config = await configFor("legacy");
      const tokens = await oidc.genericGrantRequest(config, "password", { username: "alice", password: PASSWORD, scope: "openid offline_access orders:read", resource: API });
      expect(tokens.token_type).toBe("bearer");
      const access = decodeJwt(tokens.access_token);
      expect(access).toMatchObject({ sub: users.alice, aud: API, scope: "orders:read", client_id: clients.legacy!.id });
      expect(tokens.refresh_token).toBeDefined();
      const idToken = tokens.claims()!;
      expect(idToken).toMatchObject({ sub: users.alice, aud: clients.legacy!.id, iss: gatehouse.issuer });
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API });
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ sub: users.alice, scope: "orders:read" });
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    });

    test("without scope it gets every scope the client may have of its API; userinfo works with openid", async () => {
      const config = await configFor("legacy");
      const tokens = await oidc.genericGrantRequest(config, "password", { username: "bob", password: PASSWORD });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: API, scope: "orders:read orders:write" });
      const forUserinfo = await oidc.genericGrantRequest(config, "password", { username: "bob", password: PASSWORD, scope: "openid profile" });
      const info = await oidc.fetchUserInfo(config, forUserinfo.access_token, users.bob!);
      expect(info).toMatchObject({ sub: users.bob, name: "BOB" });
      expect(forUserinfo.refresh_token).toBeUndefined();
    });

    test("an unknown user, a wrong password and a disabled user get the same invalid_grant", async () => {
      const answers = [];
      for (const [username, password] of [["nobody", PASSWORD], ["alice", "wrong"], ["disabled", PASSWORD]] as const) {
        answers.push(await tokenRequest("legacy", { grant_type: "password", username, password, scope: "orders:read" }));
      }
      for (const answer of answers) expect(answer).toMatchObject({ status: 400, error: "invalid_grant", error_description: "the username or password is wrong" });
    });

    test("missing username or password is invalid_request; a client without the grant is unauthorized_client", async () => {
      expect(await tokenRequest("legacy", { grant_type: "password", username: "alice" })).toMatchObject({ status: 400, error: "invalid_request" });
      expect(await tokenRequest("legacy", { grant_type: "password", password: PASSWORD })).toMatchObject({ status: 400, error: "invalid_request" });
      expect(await tokenRequest("no-password", { grant_type: "password", username: "alice", password: PASSWORD })).toMatchObject({
        status: 400, error: "unauthorized_client",
      });
    });

    test("hammering one account hits the login page's throttle, with Retry-After, and the login page is throttled too", async () => {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await tokenRequest("legacy", { grant_type: "password", username: "hammered", password: `guess-${i}` }));
      expect(answers.slice(0, 3).map((a) => a.error_description)).toEqual(Array(3).fill("the username or password is wrong"));
      expect(answers[3]).toMatchObject({ status: 400, error: "invalid_grant", error_description: expect.stringContaining("too many failed attempts") });
      expect(Number(answers[3]!.retryAfter)).toBeGreaterThan(0);
      // The right password while throttled is refused as well: the lock is not an oracle.
      expect(await tokenRequest("legacy", { grant_type: "password", username: "hammered", password: PASSWORD })).toMatchObject({
        error_description: expect.stringContaining("too many failed attempts"),
      });
      // The login page shares the counter (same account, same address).
      const config = await configFor("code-only");
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: SPA_REDIRECT, scope: "openid", code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
      });
      const agent = new UserAgent();
      const start = await agent.follow(url.href, gatehouse.issuer);
      const login = await agent.submit(start.page!, { username: "hammered", password: PASSWORD }, gatehouse.issuer);
      expect(login.page?.html).toMatch(/Too many attempts/i);
    });
  });

  describe("implicit and hybrid (OpenID Connect)", () => {
    async function authorize(name: string, params: Record<string, string>, username = "alice") {
      const config = await configFor(name);
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: SPA_REDIRECT, scope: "openid", ...params });
      const agent = new UserAgent();
      const start = await agent.follow(url.href, gatehouse.issuer);
      if (start.redirect) return start;
      let result = await agent.submit(start.page!, { username, password: PASSWORD }, gatehouse.issuer);
      if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, gatehouse.issuer);
      return result;
    }

    test("id_token token: tokens in the fragment, nonce bound, no refresh token", async () => {
      const nonce = oidc.randomNonce();
      const result = await authorize("spa", { response_type: "id_token token", nonce, state: "s1" });
      const redirect = new URL(result.redirect!);
      expect(redirect.origin + redirect.pathname).toBe(SPA_REDIRECT);
      expect(redirect.search).toBe("");
      const fragment = new URLSearchParams(redirect.hash.slice(1));
      expect(fragment.get("state")).toBe("s1");
      expect(fragment.get("access_token")).toBeTruthy();
      expect(fragment.get("refresh_token")).toBeNull();
      expect(decodeJwt(fragment.get("id_token")!)).toMatchObject({ sub: users.alice, nonce, aud: clients.spa!.id });
      const info = await oidc.fetchUserInfo(await configFor("spa"), fragment.get("access_token")!, users.alice!);
      expect(info.sub).toBe(users.alice);
    });

    test("form_post response mode posts the tokens to the exact redirect URI", async () => {
      const nonce = oidc.randomNonce();
      const result = await authorize("spa", { response_type: "id_token", nonce, response_mode: "form_post" });
      expect(result.page?.html).toContain(`action="${SPA_REDIRECT}"`);
      expect(result.page?.html).toMatch(/name="id_token" value="ey/);
    });

    test("the nonce is required", async () => {
      const result = await authorize("spa", { response_type: "id_token token" });
      const fragment = new URLSearchParams(new URL(result.redirect!).hash.slice(1));
      expect(fragment.get("error")).toBe("invalid_request");
      expect(fragment.get("error_description")).toMatch(/nonce/);
    });

    test("hybrid code id_token for a client with both grants: code exchanged with PKCE", async () => {
      const nonce = oidc.randomNonce();
      const verifier = oidc.randomPKCECodeVerifier();
      const result = await authorize("hybrid", {
        response_type: "code id_token", nonce, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
      });
      const fragment = new URLSearchParams(new URL(result.redirect!).hash.slice(1));
      expect(fragment.get("code")).toBeTruthy();
      expect(decodeJwt(fragment.get("id_token")!)).toMatchObject({ nonce, c_hash: expect.any(String) });
    });

    test("a client without the implicit grant gets unauthorized_client on the redirect", async () => {
      const result = await authorize("code-only", { response_type: "id_token token", nonce: "n" });
      const redirect = new URL(result.redirect!);
      const answer = new URLSearchParams(redirect.hash ? redirect.hash.slice(1) : redirect.search);
      expect(answer.get("error")).toBe("unauthorized_client");
    });

    test("a redirect URI that is not registered exactly is refused without redirecting", async () => {
      const config = await configFor("spa");
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: `${SPA_REDIRECT}/../evil`, scope: "openid", response_type: "id_token token", nonce: "n" });
      const result = await new UserAgent().follow(url.href, gatehouse.issuer);
      expect(result.redirect).toBeUndefined();
      expect(result.page?.status).toBe(400);
      expect(result.page?.html).toMatch(/redirect_uri/);
    });

    test("bare response_type=token is unsupported_response_type naming the alternatives", async () => {
      const result = await authorize("spa", { response_type: "token", nonce: "n" });
      const redirect = new URL(result.redirect!);
      const answer = new URLSearchParams(redirect.hash.slice(1) || redirect.search);
      expect(answer.get("error")).toBe("unsupported_response_type");
      expect(answer.get("error_description")).toMatch(/code.*PKCE/);
      expect(answer.get("error_description")).toMatch(/id_token token/);
    });

    test("registration: implicit needs https redirect URIs off loopback and is not for native apps", async () => {
      await withServices(db, async (services) => {
        await expect(services.clients.create({ client_name: "x", public: true, grant_types: ["implicit"], redirect_uris: ["http://app.example.com/cb"] })).rejects.toMatchObject({
          issues: [{ field: "redirect_uris[0]", message: expect.stringContaining("https") }],
        });
        await expect(services.clients.create({ client_name: "x", public: true, grant_types: ["implicit"], redirect_uris: ["https://127.0.0.1/cb"] })).rejects.toMatchObject({
          issues: [{ field: "redirect_uris[0]" }],
        });
        await expect(
          services.clients.create({ client_name: "x", public: true, application_type: "native", grant_types: ["implicit"], redirect_uris: ["https://app.example.com/cb"] }),
        ).rejects.toMatchObject({ issues: [{ field: "grant_types" }] });
      });
    });
  });

  describe("JWT bearer assertions (RFC 7523)", () => {
    interface AssertionOptions {
      key?: string;
      alg?: string;
      claims?: Record<string, unknown>;
      omit?: string[];
      header?: Record<string, unknown>;
    }
    const now = () => Math.floor(Date.now() / 1000);

    async function assertion({ key = "idp", alg, claims = {}, omit = [], header = {} }: AssertionOptions = {}): Promise<string> {
      const signer = keys[key]!;
      const payload: Record<string, unknown> = { iss: IDP, sub: "alice", aud: `${gatehouse.issuer}/token`, exp: now() + 120, iat: now(), jti: crypto.randomUUID(), ...claims };
      for (const claim of omit) delete payload[claim];
      return new SignJWT(payload).setProtectedHeader({ alg: alg ?? (signer.publicJwk.alg as string), kid: signer.kid, ...header }).sign(signer.privateKey);
    }
    const bearer = (value: string, extra: Record<string, string> = {}, name = "assertions") => tokenRequest(name, { grant_type: JWT_BEARER, assertion: value, ...extra });

    test("an assertion for a user gets an access token for the API, an ID token and a refresh token (openid-client)", async () => {
      const config = await configFor("assertions");
      const tokens = await oidc.genericGrantRequest(config, JWT_BEARER, {
        assertion: await assertion({ claims: { aud: gatehouse.issuer } }), scope: "openid offline_access orders:read", resource: API,
      });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: users.alice, aud: API, scope: "orders:read", client_id: clients.assertions!.id });
      expect(tokens.claims()).toMatchObject({ sub: users.alice });
      expect(tokens.refresh_token).toBeDefined();
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API });
      expect(decodeJwt(refreshed.access_token).sub).toBe(users.alice);
    });

    test("RS256 works as well; without scope the issuer's and client's API scopes are given", async () => {
      const answer = await bearer(await assertion({ key: "idp-rsa" }));
      expect(answer.status).toBe(200);
      // orders:write is the client's but not the issuer's to grant.
      expect(decodeJwt(answer.access_token as string)).toMatchObject({ scope: "orders:read", aud: API });
    });

    test("a scope beyond what the issuer may grant is invalid_scope", async () => {
      expect(await bearer(await assertion(), { scope: "orders:write" })).toMatchObject({ status: 400, error: "invalid_scope" });
    });

    test("a service identity gets a token whose sub names the issuer, never a user, and no openid", async () => {
      const answer = await bearer(await assertion({ claims: { iss: "https://ci.example.com", sub: users.alice } }), { scope: "orders:read" });
      expect(answer.status).toBe(200);
      expect(decodeJwt(answer.access_token as string).sub).toBe(`https://ci.example.com#${users.alice}`);
      expect(await bearer(await assertion({ claims: { iss: "https://ci.example.com", sub: "build" } }), { scope: "openid" })).toMatchObject({ error: "invalid_scope" });
    });

    test("jwks_uri: a key the issuer rotates in is fetched on its first use; subject mapped by email", async () => {
      const first = await bearer(await assertion({ key: "rotating-1", claims: { iss: ROTATING_IDP, sub: "bob@example.com" } }));
      expect(decodeJwt(first.access_token as string).sub).toBe(users.bob);
      served = { keys: [keys["rotating-1"]!.publicJwk, keys["rotating-2"]!.publicJwk] };
      const rotated = await bearer(await assertion({ key: "rotating-2", claims: { iss: ROTATING_IDP, sub: "bob@example.com" } }));
      expect(rotated.status).toBe(200);
    });

    const refusals: Array<[string, () => Promise<string>, RegExp]> = [
      ["alg none", async () => new UnsecuredJWT({ iss: IDP, sub: "alice", aud: `${gatehouse.issuer}/token`, exp: now() + 60, jti: crypto.randomUUID() }).encode(), /signature algorithm is not accepted/],
      [
        "HS256 keyed with the issuer's public key",
        async () => {
          const pem = await exportSPKI((await crypto.subtle.importKey("jwk", keys.idp!.publicJwk as JsonWebKey, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"])) as CryptoKey);
          return new SignJWT({ iss: IDP, sub: "alice", aud: `${gatehouse.issuer}/token`, exp: now() + 60, jti: crypto.randomUUID() })
            .setProtectedHeader({ alg: "HS256", kid: keys.idp!.kid })
            .sign(new TextEncoder().encode(pem));
        },
        /signature algorithm is not accepted/,
      ],
      ["a wrong aud", () => assertion({ claims: { aud: "https://elsewhere.example.com/token" } }), /aud must name/],
      ["no aud", () => assertion({ omit: ["aud"] }), /aud must name/],
      ["no jti", () => assertion({ omit: ["jti"] }), /no jti claim/],
      ["no exp", () => assertion({ omit: ["exp"] }), /no exp claim/],
      ["no sub", () => assertion({ omit: ["sub"] }), /no sub claim/],
      ["exp beyond the issuer's longest lifetime", () => assertion({ claims: { exp: now() + 3600, iat: now() } }), /longest assertion lifetime/],
      ["exp - iat beyond the longest lifetime", () => assertion({ claims: { exp: now() + 60, iat: now() - 600 } }), /longest assertion lifetime/],
      ["expired", () => assertion({ claims: { exp: now() - 600, iat: now() - 700 } }), /expired/],
      ["nbf in the future", () => assertion({ claims: { nbf: now() + 600 } }), /not valid yet/],
      ["iat in the future", () => assertion({ claims: { iat: now() + 600, exp: now() + 700 } }), /iat is in the future|longest/],
      ["an unknown issuer", () => assertion({ claims: { iss: "https://unknown.example.com" } }), /not a trusted issuer/],
      ["a kid the issuer has not registered", () => assertion({ key: "stranger" }), /kid names no key/],
      ["a key of another issuer under a registered kid", () => assertion({ key: "stranger", header: { kid: keys.idp?.kid } }), /signature does not verify/],
      ["typed as an access token", () => assertion({ header: { typ: "at+jwt" } }), /typed as another kind/],
      ["an unknown user", () => assertion({ claims: { sub: "mallory" } }), /not a known user/],
      ["a disabled user", () => assertion({ claims: { sub: "disabled" } }), /not a known user/],
    ];

    test.each(refusals)("%s is invalid_grant naming the check, never echoing the assertion", async (_name, make, description) => {
      const value = await make();
      const answer = await bearer(value);
      expect(answer).toMatchObject({ status: 400, error: "invalid_grant", error_description: expect.stringMatching(description) });
      for (const part of value.split(".").filter((p) => p.length > 8)) expect(JSON.stringify(answer)).not.toContain(part.slice(0, 16));
    });

    test("a JWE or garbage is refused as not a signed JWT; a missing assertion is invalid_request", async () => {
      expect(await bearer("a.b.c.d.e")).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/not a signed JWT/) });
      expect(await bearer("not a jwt")).toMatchObject({ error: "invalid_grant" });
      expect(await tokenRequest("assertions", { grant_type: JWT_BEARER })).toMatchObject({ status: 400, error: "invalid_request" });
    });

    test("a client the issuer does not list may not present its assertions; a client without the grant is unauthorized_client", async () => {
      expect(await bearer(await assertion(), {}, "other-assertions")).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/this client may not/) });
      expect(await bearer(await assertion(), {}, "legacy")).toMatchObject({ error: "unauthorized_client" });
    });

    test("a jti is single use, on this instance and on a second one sharing the database", async () => {
      const value = await assertion();
      expect((await bearer(value)).status).toBe(200);
      expect(await bearer(value)).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/used before/) });
      second = await startGatehouse(db);
      const replayElsewhere = await tokenRequest("assertions", { grant_type: JWT_BEARER, assertion: await assertion({ claims: { jti: "shared-jti", aud: second.issuer } }) }, second.issuer);
      expect(replayElsewhere.status).toBe(200);
      const sameJtiHere = await bearer(await assertion({ claims: { jti: "shared-jti", aud: gatehouse.issuer } }));
      expect(sameJtiHere).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/used before/) });
    });

    test("a disabled issuer is no longer trusted", async () => {
      await withServices(db, (services) => services.issuers.update(IDP, { enabled: false }));
      try {
        await new Promise((r) => setTimeout(r, 400));
        expect(await bearer(await assertion())).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/not a trusted issuer/) });
      } finally {
        await withServices(db, (services) => services.issuers.update(IDP, { enabled: true }));
      }
    });
  });
});
