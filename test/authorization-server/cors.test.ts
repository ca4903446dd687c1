// CORS at the authorization server over real HTTP: the token, introspection, revocation and userinfo
// endpoints answer CORS only for the calling client's origins (its redirect URIs' and its allowed_origins),
// a preflight only for origins some client has, discovery and the JWKS for every origin as oidc-provider
// serves them; allowed_origins changed through the services apply without a restart.
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const API = "https://orders.example.com";
const OPS = "https://ops.example.com";
const SPA = "https://spa.example.com";
const EVIL = "https://evil.example.com";
const FORM = "application/x-www-form-urlencoded";

describe("CORS at the authorization server", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let machine: { id: string; secret: string };

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    machine = await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
      // A browser app: its redirect URI's origin is its CORS origin.
      await services.clients.create({ client_name: "spa", public: true, grant_types: ["authorization_code"], redirect_uris: [`${SPA}/callback`] });
      const { client, client_secret } = await services.clients.create({
        client_name: "ops console", grant_types: ["client_credentials"], scopes: ["orders:read"], allowed_origins: [OPS],
      });
      return { id: client.client_id, secret: client_secret! };
    });
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const basic = () => `Basic ${Buffer.from(`${machine.id}:${machine.secret}`).toString("base64")}`;
  const post = (path: string, body: Record<string, string>, origin?: string) =>
    fetch(`${gatehouse.issuer}${path}`, {
      method: "POST",
      headers: { authorization: basic(), "content-type": FORM, ...(origin ? { origin } : {}) },
      body: new URLSearchParams(body),
    });
  const token = (origin?: string) => post("/token", { grant_type: "client_credentials", scope: "orders:read", resource: API }, origin);
  const preflight = (path: string, origin: string) =>
    fetch(`${gatehouse.issuer}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
  const corsHeaders = (response: Response) => {
    const names: string[] = [];
    response.headers.forEach((_value, name) => names.push(name));
    return names.filter((name) => name.startsWith("access-control-"));
  };

  test("/token echoes an allowed origin in Access-Control-Allow-Origin", async () => {
    const response = await token(OPS);
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(OPS);
    expect(response.headers.get("vary")).toMatch(/origin/i);
  });

  test("/token refuses another origin with no CORS header at all, even one another client has", async () => {
    for (const origin of [EVIL, SPA]) {
      const response = await token(origin);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: "invalid_request" });
      expect(corsHeaders(response)).toEqual([]);
    }
  });

  test("a request without Origin (not CORS: a server) gets its tokens and no Access-Control-Allow-Origin: *", async () => {
    const response = await token();
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("introspection and revocation answer CORS for the same origins only", async () => {
    const { access_token } = (await (await token()).json()) as { access_token: string };
    const allowed = await post("/introspect", { token: access_token }, OPS);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(OPS);
    const refused = await post("/introspect", { token: access_token }, EVIL);
    expect(corsHeaders(refused)).toEqual([]);
    const revoked = await post("/revoke", { token: access_token }, OPS);
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get("access-control-allow-origin")).toBe(OPS);
  });

  test("a preflight is answered for an origin of some client, without CORS headers for any other", async () => {
    for (const origin of [OPS, SPA]) {
      const response = await preflight("/token", origin);
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(origin);
      expect(response.headers.get("access-control-allow-methods")).toBe("POST");
      expect(response.headers.get("access-control-allow-headers")).toBe("authorization,content-type");
    }
    const refused = await preflight("/token", EVIL);
    expect(corsHeaders(refused)).toEqual([]);
    expect(corsHeaders(await preflight("/introspect", EVIL))).toEqual([]);
  });

  test("discovery and the JWKS stay open to every origin, as oidc-provider serves them", async () => {
    for (const path of ["/.well-known/openid-configuration", "/jwks"]) {
      const response = await fetch(`${gatehouse.issuer}${path}`, { headers: { origin: EVIL } });
      expect(response.status).toBe(200);
      expect(response.headers.get("access-control-allow-origin")).toBe(EVIL);
    }
    const preflighted = await fetch(`${gatehouse.issuer}/jwks`, { method: "OPTIONS", headers: { origin: EVIL, "access-control-request-method": "GET" } });
    expect(preflighted.headers.get("access-control-allow-origin")).toBe(EVIL);
  });

  test("an error before any client is known carries no CORS header, from any origin, even one some client has", async () => {
    const nobody = `Basic ${Buffer.from("nobody:wrong").toString("base64")}`;
    for (const origin of [EVIL, OPS, SPA]) {
      for (const path of ["/token", "/introspect", "/revoke"]) {
        const body: Record<string, string> = path === "/token" ? { grant_type: "client_credentials" } : { token: "abc" };
        const response = await fetch(`${gatehouse.issuer}${path}`, {
          method: "POST",
          headers: { authorization: nobody, "content-type": FORM, origin },
          body: new URLSearchParams(body),
        });
        expect(response.status).toBe(401);
        expect(corsHeaders(response)).toEqual([]);
      }
      // An unknown client id in the body (as a public client sends it).
      const unknownPublic = await fetch(`${gatehouse.issuer}/token`, {
        method: "POST",
        headers: { "content-type": FORM, origin },
        body: new URLSearchParams({ grant_type: "authorization_code", client_id: "nobody", code: "abc", redirect_uri: `${SPA}/callback` }),
      });
      expect(unknownPublic.status).toBeGreaterThanOrEqual(400);
      expect(corsHeaders(unknownPublic)).toEqual([]);
    }
  });

  test("a known client with a wrong secret from another origin gets no CORS header either", async () => {
    const wrong = `Basic ${Buffer.from(`${machine.id}:wrong`).toString("base64")}`;
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: wrong, "content-type": FORM, origin: EVIL },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(corsHeaders(response)).toEqual([]);
  });

  test("userinfo with a token that names no client carries no CORS header, from any origin", async () => {
    for (const origin of [EVIL, SPA, OPS]) {
      for (const method of ["GET", "POST"]) {
        const response = await fetch(`${gatehouse.issuer}/userinfo`, { method, headers: { origin, authorization: "Bearer abc" } });
        expect(response.status).toBe(401);
        expect(corsHeaders(response)).toEqual([]);
      }
    }
  });

  test("allowed_origins changed through the services apply without a restart", async () => {
    const other = "https://reports.example.com";
    await withServices(db, (services) => services.clients.update(machine.id, { allowed_origins: [other] }));
    await configPropagation();
    expect((await token(other)).headers.get("access-control-allow-origin")).toBe(other);
    expect(corsHeaders(await token(OPS))).toEqual([]);
    expect((await preflight("/token", other)).headers.get("access-control-allow-origin")).toBe(other);
  });
});
