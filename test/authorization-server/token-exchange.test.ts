// The token exchange grant (RFC 8693) over real HTTP with openid-client, on both databases: a service
// trades a user's access token (JWT or opaque) or a trusted issuer's signed JWT for a token meant for
// another API — narrowed, never widened, no longer-lived than the subject token, with act for an actor
// — and everything it must refuse: a client without the grant or without the target registered, a wider
// scope, an unknown target, a dead or foreign subject token, an actor token of another client. Revoking
// the subject token ends the exchanged token too.
import crypto from "node:crypto";
import * as oidc from "openid-client";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type JWK } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const JWT = "urn:ietf:params:oauth:token-type:jwt";
const ORDERS = "https://orders.example.com";
const INVENTORY = "https://inventory.example.com";
const LEDGER = "https://ledger.example.com";
const ELSEWHERE = "https://elsewhere.example.com";
const IDP = "https://idp.example.com";
const PASSWORD = "correct horse battery staple";

type Registered = { id: string; secret?: string };

describe.each(BACKENDS)("token exchange on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<string, Registered> = {};
  let alice = "";
  let idpKey: { privateKey: CryptoKey; publicJwk: JWK };

  beforeAll(async () => {
    db = await freshDatabase(backend);
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    idpKey = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: "idp-1", alg: "ES256", use: "sig" } };
    await withServices(db, async (services) => {
      for (const name of ["orders:read", "orders:write", "inventory:read"]) await services.scopes.apply({ name });
      // The subject tokens' API lives 60 s; the targets accept orders:read (a scope two APIs share).
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read", "orders:write"], access_token_ttl: 60 });
      await services.apis.apply({ identifier: INVENTORY, name: "Inventory", scopes: ["orders:read", "inventory:read"] });
      await services.apis.apply({ identifier: LEDGER, name: "Ledger", scopes: ["orders:read"], token_format: "opaque" });
      await services.apis.apply({ identifier: ELSEWHERE, name: "Elsewhere", scopes: ["orders:read"] });
      const register = async (name: string, input: Record<string, unknown>) => {
        const { client, client_secret } = await services.clients.create({ client_name: name, ...input } as never);
        clients[name] = { id: client.client_id, secret: client_secret };
      };
      await register("app", { grant_types: ["password"], scopes: ["orders:read", "orders:write"] });
      await register("exchanger", {
        grant_types: [TOKEN_EXCHANGE, "client_credentials"],
        scopes: ["orders:read"],
        token_exchange_targets: [INVENTORY, LEDGER],
      });
      await register("other-service", { grant_types: [TOKEN_EXCHANGE, "client_credentials"], scopes: ["orders:read"], token_exchange_targets: [INVENTORY] });
      await register("no-exchange", { grant_types: ["client_credentials"], scopes: ["orders:read"] });
      alice = (await services.users.create({ username: "alice", email: "alice@example.com", password: PASSWORD })).user.id;
      await services.issuers.create({
        issuer: IDP, kind: "jwt", name: "Corporate IdP", jwks: { keys: [idpKey.publicJwk] },
        clients: [clients.exchanger!.id], subject_mapping: "username", scopes: ["orders:read"], max_assertion_lifetime: 300,
      });
    });
    gatehouse = await startGatehouse(db);
  }, 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const insecure = { execute: [oidc.allowInsecureRequests] };
  const configFor = (name: string) => oidc.discovery(new URL(gatehouse.issuer), clients[name]!.id, clients[name]!.secret, undefined, insecure);

  /** A POST with client_secret_basic and the answer's JSON and status. */
  async function post(name: string, path: string, params: Record<string, string>): Promise<Record<string, unknown> & { status: number }> {
    const { id, secret } = clients[name]!;
    const response = await fetch(`${gatehouse.issuer}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
      body: new URLSearchParams(params),
    });
    const text = await response.text();
    return { ...(text ? (JSON.parse(text) as Record<string, unknown>) : {}), status: response.status };
  }

  const exchange = (name: string, params: Record<string, string>) => post(name, "/token", { grant_type: TOKEN_EXCHANGE, ...params });
  const introspect = (token: string) => post("exchanger", "/introspect", { token });

  /** Alice's access token for `resource` through the password grant. */
  async function aliceToken(resource = ORDERS, scope = "orders:read orders:write"): Promise<string> {
    const tokens = await oidc.genericGrantRequest(await configFor("app"), "password", { username: "alice", password: PASSWORD, scope, resource });
    return tokens.access_token;
  }

  test("discovery names the grant; a user's JWT becomes a token for the target API with the scopes both share", async () => {
    const metadata = (await (await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(TOKEN_EXCHANGE);

    const subject = await aliceToken();
    const tokens = await oidc.genericGrantRequest(await configFor("exchanger"), TOKEN_EXCHANGE, {
      subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY,
    });
    expect(tokens).toMatchObject({ token_type: "bearer", issued_token_type: ACCESS_TOKEN, scope: "orders:read" });
    expect(tokens.refresh_token).toBeUndefined();
    const claims = decodeJwt(tokens.access_token);
    const subjectClaims = decodeJwt(subject);
    expect(claims).toMatchObject({ iss: gatehouse.issuer, sub: alice, aud: INVENTORY, client_id: clients.exchanger!.id, scope: "orders:read", sgid: [subjectClaims.gid] });
    expect(claims.act).toBeUndefined();
    // No longer-lived than the subject token (Orders tokens live 60 s; Inventory's would live an hour).
    expect(claims.exp!).toBeLessThanOrEqual(subjectClaims.exp!);
    expect(tokens.expires_in).toBeLessThanOrEqual(60);
  });

  test("audience works as resource does; a narrower scope is granted, a wider one or one the target lacks is invalid_scope", async () => {
    const subject = await aliceToken(ORDERS, "orders:read");
    expect(await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: INVENTORY, scope: "orders:read" })).toMatchObject({
      status: 200, scope: "orders:read",
    });
    // inventory:read: the target has it, the subject token does not.
    expect(await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY, scope: "inventory:read" })).toMatchObject({
      status: 400, error: "invalid_scope",
    });
    // orders:write: Inventory does not accept it (and this subject token does not hold it either).
    const wide = await aliceToken();
    expect(await exchange("exchanger", { subject_token: wide, subject_token_type: ACCESS_TOKEN, resource: INVENTORY, scope: "orders:read orders:write" })).toMatchObject({
      status: 400, error: "invalid_scope",
    });
  });

  test("targets: none, unknown, not registered for this client, or two different ones are invalid_target", async () => {
    const subject = await aliceToken();
    const base = { subject_token: subject, subject_token_type: ACCESS_TOKEN };
    expect(await exchange("exchanger", base)).toMatchObject({ status: 400, error: "invalid_target" });
    expect(await exchange("exchanger", { ...base, resource: "https://unknown.example.com" })).toMatchObject({ status: 400, error: "invalid_target" });
    expect(await exchange("exchanger", { ...base, resource: ELSEWHERE })).toMatchObject({ status: 400, error: "invalid_target", error_description: expect.stringContaining(ELSEWHERE) });
    expect(await exchange("other-service", { ...base, resource: LEDGER })).toMatchObject({ status: 400, error: "invalid_target" });
    expect(await exchange("exchanger", { ...base, resource: INVENTORY, audience: LEDGER })).toMatchObject({ status: 400, error: "invalid_target" });
  });

  test("a client without the grant is unauthorized_client; malformed requests are invalid_request; a bad subject token is invalid_grant", async () => {
    const subject = await aliceToken();
    expect(await exchange("no-exchange", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY })).toMatchObject({
      status: 400, error: "unauthorized_client",
    });
    expect(await exchange("exchanger", { subject_token_type: ACCESS_TOKEN, resource: INVENTORY })).toMatchObject({ status: 400, error: "invalid_request" });
    expect(await exchange("exchanger", { subject_token: subject, resource: INVENTORY })).toMatchObject({ status: 400, error: "invalid_request" });
    expect(await exchange("exchanger", { subject_token: subject, subject_token_type: "urn:ietf:params:oauth:token-type:saml2", resource: INVENTORY })).toMatchObject({
      status: 400, error: "invalid_request",
    });
    expect(
      await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY, requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }),
    ).toMatchObject({ status: 400, error: "invalid_request" });
    for (const garbage of ["not-a-token", `${subject.slice(0, -4)}AAAA`, "a.b.c", "x".repeat(20_000)]) {
      const answer = await exchange("exchanger", { subject_token: garbage, subject_token_type: ACCESS_TOKEN, resource: INVENTORY });
      expect(answer).toMatchObject({ status: 400, error: "invalid_grant" });
    }
  });

  test("with the client's own actor token the result carries act; another client's actor token is invalid_grant", async () => {
    const subject = await aliceToken();
    const own = await oidc.clientCredentialsGrant(await configFor("exchanger"), { resource: ORDERS, scope: "orders:read" });
    const delegated = await exchange("exchanger", {
      subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: own.access_token, actor_token_type: ACCESS_TOKEN, resource: INVENTORY,
    });
    expect(delegated.status).toBe(200);
    expect(decodeJwt(delegated.access_token as string)).toMatchObject({ sub: alice, act: { sub: clients.exchanger!.id, client_id: clients.exchanger!.id } });

    const foreign = await oidc.clientCredentialsGrant(await configFor("other-service"), { resource: ORDERS, scope: "orders:read" });
    expect(
      await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: foreign.access_token, actor_token_type: ACCESS_TOKEN, resource: INVENTORY }),
    ).toMatchObject({ status: 400, error: "invalid_grant", error_description: "the actor token was issued to another client" });
    expect(await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: own.access_token, resource: INVENTORY })).toMatchObject({
      status: 400, error: "invalid_request",
    });

    // Exchanged again by another service, the first actor nests inside the new one (RFC 8693 §4.1).
    const again = await exchange("other-service", {
      subject_token: delegated.access_token as string,
      subject_token_type: ACCESS_TOKEN,
      actor_token: (await oidc.clientCredentialsGrant(await configFor("other-service"), { resource: ORDERS, scope: "orders:read" })).access_token,
      actor_token_type: ACCESS_TOKEN,
      resource: INVENTORY,
    });
    expect(decodeJwt(again.access_token as string)).toMatchObject({
      sub: alice,
      act: { sub: clients["other-service"]!.id, act: { sub: clients.exchanger!.id } },
      // Alice's grant, then the first exchange's: revoking either ends this token.
      sgid: [decodeJwt(subject).gid, decodeJwt(delegated.access_token as string).gid],
    });
  });

  test("an opaque target API gets an opaque token whose introspection shows the exchange", async () => {
    const subject = await aliceToken();
    const answer = await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: LEDGER });
    expect(answer).toMatchObject({ status: 200, issued_token_type: ACCESS_TOKEN, scope: "orders:read" });
    expect((answer.access_token as string).split(".")).toHaveLength(1);
    expect(await introspect(answer.access_token as string)).toMatchObject({
      active: true, sub: alice, aud: LEDGER, client_id: clients.exchanger!.id, scope: "orders:read", sgid: [decodeJwt(subject).gid],
    });
  });

  test("revoking the subject token (JWT or opaque) ends the tokens exchanged from it, JWT and opaque", async () => {
    for (const subjectResource of [ORDERS, LEDGER]) {
      const subject = await aliceToken(subjectResource, "orders:read");
      const asJwt = await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY });
      const asOpaque = await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: LEDGER });
      expect(await introspect(asJwt.access_token as string)).toMatchObject({ active: true });
      expect(await introspect(asOpaque.access_token as string)).toMatchObject({ active: true });

      expect(await post("app", "/revoke", { token: subject })).toMatchObject({ status: 200 });
      expect(await introspect(asJwt.access_token as string)).toEqual({ active: false, status: 200 });
      expect(await introspect(asOpaque.access_token as string)).toEqual({ active: false, status: 200 });
      // And a revoked subject token cannot be exchanged again.
      expect(await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY })).toMatchObject({
        status: 400, error: "invalid_grant",
      });
    }
  });

  test("a chain of exchanges: revoking the token in the middle ends what was exchanged from it; a token whose origin was revoked cannot be exchanged", async () => {
    const subject = await aliceToken(ORDERS, "orders:read");
    const middle = (await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: LEDGER })).access_token as string;
    const last = (await exchange("exchanger", { subject_token: middle, subject_token_type: ACCESS_TOKEN, resource: INVENTORY })).access_token as string;
    expect(await introspect(last)).toMatchObject({ active: true });
    expect(await post("exchanger", "/revoke", { token: middle })).toMatchObject({ status: 200 });
    expect(await introspect(last)).toEqual({ active: false, status: 200 });

    // The other way round: the first token revoked, an opaque token exchanged from it is no subject any more.
    const root = await aliceToken(ORDERS, "orders:read");
    const opaque = (await exchange("exchanger", { subject_token: root, subject_token_type: ACCESS_TOKEN, resource: LEDGER })).access_token as string;
    expect(await post("app", "/revoke", { token: root })).toMatchObject({ status: 200 });
    expect(await exchange("exchanger", { subject_token: opaque, subject_token_type: ACCESS_TOKEN, resource: INVENTORY })).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  test("a client credentials subject token: revoking its client's tokens ends the tokens exchanged from them too", async () => {
    const service = await oidc.clientCredentialsGrant(await configFor("no-exchange"), { resource: ORDERS, scope: "orders:read" });
    const exchanged = await exchange("exchanger", { subject_token: service.access_token, subject_token_type: ACCESS_TOKEN, resource: INVENTORY });
    expect(decodeJwt(exchanged.access_token as string)).toMatchObject({ sub: clients["no-exchange"]!.id, sclient: [clients["no-exchange"]!.id] });
    expect(await introspect(exchanged.access_token as string)).toMatchObject({ active: true });
    await withServices(db, (services) => services.clients.revokeTokens(clients["no-exchange"]!.id));
    // The revocation mark reaches the running server through the change feed.
    const deadline = Date.now() + 15_000;
    let answer = await introspect(exchanged.access_token as string);
    while (answer.active && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await introspect(exchanged.access_token as string);
    }
    expect(answer).toEqual({ active: false, status: 200 });
  });

  test("an actor token must be the client's own client credentials token, not a user's token issued to it", async () => {
    const subject = await aliceToken();
    const exchangerUser = await exchange("exchanger", { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: INVENTORY });
    // A token issued to the exchanger whose sub is a user (an exchanged token) is refused as actor.
    expect(
      await exchange("exchanger", {
        subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: exchangerUser.access_token as string, actor_token_type: ACCESS_TOKEN, resource: INVENTORY,
      }),
    ).toMatchObject({ status: 400, error: "invalid_grant", error_description: expect.stringContaining("client's own") });
  });

  test("a trusted issuer's JWT is a subject token (jwt type), single use, mapped to the user", async () => {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "idp-1" })
      .setIssuer(IDP).setSubject("alice").setAudience(gatehouse.issuer).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID())
      .sign(idpKey.privateKey);
    const answer = await exchange("exchanger", { subject_token: assertion, subject_token_type: JWT, resource: INVENTORY });
    expect(answer).toMatchObject({ status: 200, scope: "orders:read" });
    expect(decodeJwt(answer.access_token as string)).toMatchObject({ sub: alice, aud: INVENTORY });
    expect(await exchange("exchanger", { subject_token: assertion, subject_token_type: JWT, resource: INVENTORY })).toMatchObject({
      status: 400, error: "invalid_grant", error_description: expect.stringContaining("used before"),
    });
    // The issuer does not trust other-service.
    const another = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "idp-1" })
      .setIssuer(IDP).setSubject("alice").setAudience(gatehouse.issuer).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID())
      .sign(idpKey.privateKey);
    expect(await exchange("other-service", { subject_token: another, subject_token_type: JWT, resource: INVENTORY })).toMatchObject({
      status: 400, error: "invalid_grant",
    });
  });
});
