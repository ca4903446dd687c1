// Which APIs a client may get tokens for: only those it is registered for at least one scope of, on every
// grant. A client registered only for echo:read used to get a JWT with aud=orders (and no scope) by
// naming https://orders.example.com in `resource`, which a gateway route without scope rules accepted.
// And what a request without scope gets: everything the client may have of its API.
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

const ECHO = "https://echo.example.com";
const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
const NO_SCOPES = "https://no-scopes.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";

type Registered = { id: string; secret: string };

describe.each(BACKENDS)("which APIs a client may get tokens for, on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<string, Registered> = {};

  beforeAll(async () => {
    db = await freshDatabase(backend);
    await withServices(db, async (services) => {
      for (const name of ["echo:read", "orders:read", "orders:write", "billing:read"]) await services.scopes.apply({ name, description: name });
      await services.apis.apply({ identifier: ECHO, name: "Echo", scopes: ["echo:read"] });
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read", "orders:write"] });
      await services.apis.apply({ identifier: BILLING, name: "Billing", token_format: "opaque", scopes: ["billing:read"] });
      await services.apis.apply({ identifier: NO_SCOPES, name: "No scopes", scopes: [] });
      const register = async (name: string, spec: Record<string, unknown>) => {
        const { client, client_secret: secret } = await services.clients.create({ client_name: name, ...spec } as never);
        clients[name] = { id: client.client_id, secret: secret! };
      };
      await register("echo-worker", { grant_types: ["client_credentials"], scopes: ["echo:read"] });
      await register("orders-worker", { grant_types: ["client_credentials"], scopes: ["orders:read", "orders:write"] });
      await register("two-apis", { grant_types: ["client_credentials"], scopes: ["echo:read", "orders:read"] });
      await register("legacy", { grant_types: ["password"], scopes: ["echo:read"] });
      await register("web", { grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], scopes: ["orders:read"] });
      await services.users.create({ username: "alice", password: PASSWORD });
    });
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const basic = (name: string) => `Basic ${Buffer.from(`${encodeURIComponent(clients[name]!.id)}:${encodeURIComponent(clients[name]!.secret)}`).toString("base64")}`;
  async function token(name: string, params: Record<string, string>) {
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(name), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }
  const refusedFor = (resource: string) => ({ error: "invalid_target", error_description: `this client may not request tokens for ${resource}` });

  describe("client credentials", () => {
    test.each([
      [ORDERS, undefined],
      [ORDERS, "echo:read"],
      [ORDERS, "orders:read"],
      [BILLING, undefined],
      [NO_SCOPES, undefined],
    ])("a client registered only for echo:read naming %s (scope %s) gets invalid_target", async (resource, scope) => {
      const response = await token("echo-worker", { grant_type: "client_credentials", resource, ...(scope ? { scope } : {}) });
      expect(response.status).toBe(400);
      expect(response.body).toEqual(refusedFor(resource));
    });

    test("a client registered for one scope of an API gets that API's tokens, as before", async () => {
      const response = await token("two-apis", { grant_type: "client_credentials", scope: "orders:read", resource: ORDERS });
      expect(response.status).toBe(200);
      expect(decodeJwt(response.body.access_token!)).toMatchObject({ aud: ORDERS, scope: "orders:read" });
    });

    test("without scope: every scope the client has of its one API, with or without resource", async () => {
      for (const params of [{}, { resource: ECHO }] as Array<Record<string, string>>) {
        const response = await token("echo-worker", { grant_type: "client_credentials", ...params });
        expect(response.status).toBe(200);
        expect(response.body.scope).toBe("echo:read");
        expect(decodeJwt(response.body.access_token!)).toMatchObject({ aud: ECHO, scope: "echo:read" });
      }
      const orders = await token("orders-worker", { grant_type: "client_credentials" });
      expect(decodeJwt(orders.body.access_token!)).toMatchObject({ aud: ORDERS, scope: "orders:read orders:write" });
    });

    test("without scope, a client of several APIs gets a token for none of them until it names one with resource", async () => {
      const unnamed = await token("two-apis", { grant_type: "client_credentials" });
      expect(unnamed.status).toBe(200);
      expect(unnamed.body.scope).toBeUndefined();
      const introspected = await fetch(`${gatehouse.issuer}/introspect`, {
        method: "POST",
        headers: { authorization: basic("two-apis"), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: unnamed.body.access_token! }),
      });
      const described = (await introspected.json()) as Record<string, unknown>;
      expect(described).toMatchObject({ active: true });
      expect(described.aud).toBeUndefined();
      expect(described.scope).toBeUndefined();
      const named = await token("two-apis", { grant_type: "client_credentials", resource: ORDERS });
      expect(named.status).toBe(200);
      expect(decodeJwt(named.body.access_token!)).toMatchObject({ aud: ORDERS, scope: "orders:read" });
    });
  });

  test("password grant (Gatehouse's own grants): the same rule", async () => {
    const refused = await token("legacy", { grant_type: "password", username: "alice", password: PASSWORD, resource: ORDERS });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(refusedFor(ORDERS));
    const own = await token("legacy", { grant_type: "password", username: "alice", password: PASSWORD, resource: ECHO });
    expect(own.status).toBe(200);
    expect(decodeJwt(own.body.access_token!)).toMatchObject({ aud: ECHO, scope: "echo:read" });
  });

  describe("authorization code and refresh", () => {
    const insecure = { execute: [oidc.allowInsecureRequests] };
    const webConfig = () => oidc.discovery(new URL(gatehouse.issuer), clients.web!.id, clients.web!.secret, undefined, insecure);

    async function authorizationUrl(resource: string, scope: string) {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(await webConfig(), {
        redirect_uri: REDIRECT, scope, resource, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
      });
      return { url: url.href, verifier };
    }

    /** Signs alice in and approves; returns the redirect back to the client. */
    async function signIn(url: string): Promise<string> {
      const agent = new UserAgent();
      const start = await agent.follow(url, gatehouse.issuer);
      if (start.redirect) return start.redirect;
      let result = await agent.submit(start.page!, { username: "alice", password: PASSWORD }, gatehouse.issuer);
      if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, gatehouse.issuer);
      return result.redirect!;
    }

    test("at /authorize, an API the client is not registered for is refused with invalid_target, before anyone signs in", async () => {
      for (const scope of ["openid", "openid orders:read"]) {
        const back = new URL(await signIn((await authorizationUrl(ECHO, scope)).url));
        expect(back.origin + back.pathname).toBe(REDIRECT);
        expect(back.searchParams.get("error")).toBe("invalid_target");
        expect(back.searchParams.get("error_description")).toBe(`this client may not request tokens for ${ECHO}`);
      }
      // A scope of the other API the client is not registered for is refused as a scope, as before.
      const unregistered = new URL(await signIn((await authorizationUrl(ECHO, "openid echo:read")).url));
      expect(unregistered.searchParams.get("error")).toBe("invalid_scope");
    });

    test("at /token and on refresh, a client no longer registered for the API gets invalid_target, and its refresh token stays usable", async () => {
      const web = await webConfig();
      const first = await authorizationUrl(ORDERS, "openid offline_access orders:read");
      const tokens = await oidc.authorizationCodeGrant(web, new URL(await signIn(first.url)), { pkceCodeVerifier: first.verifier }, { resource: ORDERS });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: ORDERS, scope: "orders:read" });
      const second = await authorizationUrl(ORDERS, "openid offline_access orders:read");
      const pending = new URL(await signIn(second.url));
      expect(pending.searchParams.get("code")).toBeTruthy();

      await withServices(db, (services) => services.clients.update(clients.web!.id, { scopes: [] }));
      await configPropagation();
      try {
        const exchange = await fetch(`${gatehouse.issuer}/token`, {
          method: "POST",
          headers: { authorization: basic("web"), "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "authorization_code", code: pending.searchParams.get("code")!, redirect_uri: REDIRECT, code_verifier: second.verifier, resource: ORDERS }),
        });
        expect(exchange.status).toBe(400);
        expect(await exchange.json()).toEqual(refusedFor(ORDERS));

        const refresh = await token("web", { grant_type: "refresh_token", refresh_token: tokens.refresh_token!, resource: ORDERS });
        expect(refresh.status).toBe(400);
        expect(refresh.body).toEqual(refusedFor(ORDERS));
        // Refused before rotation: the same refresh token still gets a token for userinfo.
        const userinfo = await token("web", { grant_type: "refresh_token", refresh_token: tokens.refresh_token! });
        expect(userinfo.status).toBe(200);
      } finally {
        await withServices(db, (services) => services.clients.update(clients.web!.id, { scopes: ["orders:read"] }));
        await configPropagation();
      }
    });
  });
});
