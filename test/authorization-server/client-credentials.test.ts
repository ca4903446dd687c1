// Client credentials end to end over real HTTP with openid-client: each client authentication method,
// JWT access tokens checked against the published JWKS, introspection and revocation, and the refusals.
import * as oidc from "openid-client";
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, decodeJwt } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const API = "https://orders.example.com";

describe.each(BACKENDS)("client credentials on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<string, { id: string; secret?: string }> = {};
  let privateKey: CryptoKey;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    const keyPair = await generateKeyPair("ES256");
    privateKey = keyPair.privateKey as CryptoKey;
    const publicJwk = { ...(await exportJWK(keyPair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read", "orders:write"], access_token_ttl: 600 });
      await services.apis.apply({ identifier: "https://opaque.example.com", name: "Opaque", token_format: "opaque", scopes: ["orders:read"] });
      for (const method of ["client_secret_basic", "client_secret_post"] as const) {
        const { client, client_secret: clientSecret } = await services.clients.create({
          client_name: method, grant_types: ["client_credentials"], scopes: ["orders:read"], token_endpoint_auth_method: method,
        });
        clients[method] = { id: client.client_id, secret: clientSecret };
      }
      const { client } = await services.clients.create({
        client_name: "pkjwt", grant_types: ["client_credentials"], scopes: ["orders:read"], jwks: { keys: [publicJwk] },
      });
      clients.private_key_jwt = { id: client.client_id };
      const other = await services.clients.create({ client_name: "to disable", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      clients.disabled = { id: other.client.client_id, secret: other.client_secret };
    });
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  async function configFor(name: string): Promise<oidc.Configuration> {
    const { id, secret } = clients[name]!;
    const auth =
      name === "client_secret_post" ? oidc.ClientSecretPost(secret) : name === "private_key_jwt" ? oidc.PrivateKeyJwt(privateKey) : oidc.ClientSecretBasic(secret);
    return oidc.discovery(new URL(gatehouse.issuer), id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
  }

  test("discovery document describes the server", async () => {
    const config = await configFor("client_secret_basic");
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(gatehouse.issuer);
    expect(metadata.token_endpoint).toBe(`${gatehouse.issuer}/token`);
    expect(metadata.code_challenge_methods_supported).toEqual(["S256"]);
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "client_credentials", "refresh_token"]));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
    );
  });

  test.each(["client_secret_basic", "client_secret_post", "private_key_jwt"])("%s gets an RFC 9068 JWT for the API", async (method) => {
    const config = await configFor(method);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: API });
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.expires_in).toBe(600);
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: gatehouse.issuer, audience: API, typ: "at+jwt" });
    expect(protectedHeader.alg).toBe("ES256");
    expect(payload).toMatchObject({ client_id: clients[method]!.id, sub: clients[method]!.id, scope: "orders:read" });
    expect(payload.jti).toEqual(expect.any(String));
  });

  test("a revoked JWT access token introspects as inactive", async () => {
    const config = await configFor("client_secret_basic");
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: API });
    const before = await oidc.tokenIntrospection(config, access_token);
    expect(before).toMatchObject({ active: true, client_id: clients.client_secret_basic!.id, aud: API, scope: "orders:read", token_type: "Bearer" });
    await oidc.tokenRevocation(config, access_token);
    expect(await oidc.tokenIntrospection(config, access_token)).toEqual({ active: false });
  });

  test("an opaque access token introspects, then is inactive after revocation", async () => {
    const config = await configFor("client_secret_post");
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: "https://opaque.example.com" });
    expect(access_token.split(".")).toHaveLength(1);
    expect(await oidc.tokenIntrospection(config, access_token)).toMatchObject({ active: true, aud: "https://opaque.example.com" });
    await oidc.tokenRevocation(config, access_token);
    expect(await oidc.tokenIntrospection(config, access_token)).toEqual({ active: false });
  });

  test("a client cannot revoke another client's JWT", async () => {
    const owner = await configFor("client_secret_basic");
    const { access_token } = await oidc.clientCredentialsGrant(owner, { scope: "orders:read", resource: API });
    const other = await configFor("client_secret_post");
    await expect(oidc.tokenRevocation(other, access_token)).rejects.toMatchObject({ error: "invalid_request" });
    expect(await oidc.tokenIntrospection(owner, access_token)).toMatchObject({ active: true });
  });

  test("a forged JWT introspects as inactive", async () => {
    const config = await configFor("client_secret_basic");
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: API });
    const [header, , signature] = access_token.split(".");
    const claims = { ...decodeJwt(access_token), scope: "orders:read orders:write" };
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
    expect(await oidc.tokenIntrospection(config, forged)).toEqual({ active: false });
  });

  async function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, string> };
  }
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` });

  test("a wrong secret is invalid_client with 401 and a Basic challenge", async () => {
    const { id } = clients.client_secret_basic!;
    const response = await tokenRequest({ grant_type: "client_credentials" }, basic(id, "not-the-secret"));
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("invalid_client");
    expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm=".*", error="invalid_client"/);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  test("an unknown grant type is unsupported_grant_type", async () => {
    const { id, secret } = clients.client_secret_basic!;
    const response = await tokenRequest({ grant_type: "urn:example:nope" }, basic(id, secret!));
    expect(response.status).toBe(400);
    expect(response.body.error).toBe("unsupported_grant_type");
  });

  test("a scope the client may not have is invalid_scope", async () => {
    const { id, secret } = clients.client_secret_basic!;
    const response = await tokenRequest({ grant_type: "client_credentials", scope: "orders:write", resource: API }, basic(id, secret!));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_scope", scope: "orders:write" });
  });

  test("an unknown resource is invalid_target", async () => {
    const { id, secret } = clients.client_secret_basic!;
    const response = await tokenRequest({ grant_type: "client_credentials", resource: "https://unknown.example.com" }, basic(id, secret!));
    expect(response.status).toBe(400);
    expect(response.body.error).toBe("invalid_target");
  });

  test("malformed and hostile requests get protocol errors, never a 500", async () => {
    const { id, secret } = clients.client_secret_basic!;
    const cases: Array<[Record<string, string>, Record<string, string>]> = [
      [{}, basic(id, secret!)],
      [{ grant_type: "client_credentials" }, { authorization: "Basic !!!not-base64" }],
      [{ grant_type: "client_credentials" }, { authorization: "Bearer x" }],
      [{ grant_type: "client_credentials", client_id: "x".repeat(5000) }, {}],
      [{ grant_type: "client_credentials", scope: "\u0000\u0001" }, basic(id, secret!)],
    ];
    for (const [body, headers] of cases) {
      const response = await tokenRequest(body, headers);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.body.error).toEqual(expect.any(String));
      expect(JSON.stringify(response.body)).not.toMatch(/at .*\.(js|ts):\d+/);
    }
    const json = await fetch(`${gatehouse.issuer}/token`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(json.status).toBe(400);
    const huge = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=client_credentials&scope=${"a".repeat(200_000)}`,
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: "invalid_request" });
  });

  test("a disabled client is refused at once", async () => {
    const { id, secret } = clients.disabled!;
    expect((await tokenRequest({ grant_type: "client_credentials" }, basic(id, secret!))).status).toBe(200);
    await withServices(db, (services) => services.clients.update(id, { enabled: false }));
    await configPropagation();
    const response = await tokenRequest({ grant_type: "client_credentials" }, basic(id, secret!));
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("invalid_client");
  });

  test("a rotated secret stops working, the new one works", async () => {
    const { id, secret } = clients.client_secret_post!;
    expect((await tokenRequest({ grant_type: "client_credentials", client_id: id, client_secret: secret! })).status).toBe(200);
    const rotated = await withServices(db, (services) => services.clients.rotateSecret(id));
    await configPropagation();
    expect((await tokenRequest({ grant_type: "client_credentials", client_id: id, client_secret: secret! })).status).toBe(401);
    expect((await tokenRequest({ grant_type: "client_credentials", client_id: id, client_secret: rotated.client_secret })).status).toBe(200);
  });

  test("no secret appears in the server's output", () => {
    for (const { secret } of Object.values(clients)) if (secret) expect(gatehouse.output()).not.toContain(secret);
  });
});
