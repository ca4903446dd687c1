// /v1/issuers: trusted assertion issuers through the admin API — create, read, page, change with
// If-Match, delete; refusals name the field (private keys, missing keys, a kind without its keys);
// and an issuer created here is trusted by the JWT bearer grant at once.
import crypto from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { BACKENDS } from "../helpers/databases.ts";
import { adminApiSuite } from "./api-harness.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ISSUER = "https://login.partner.example";
const encoded = `/v1/issuers/${encodeURIComponent(ISSUER)}`;

describe.each(BACKENDS)("admin API trusted issuers on %s", (backend) => {
  const api = adminApiSuite(backend);

  test("create, show, list, change with If-Match, delete; the issuer is trusted by the JWT bearer grant", async () => {
    const token = await api.writeToken();
    const keys = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: "partner-1" };
    const client = await api.call("POST", "/v1/clients", { token, body: { client_name: "Partner sync", grant_types: [JWT_BEARER] } });
    expect(client.status).toBe(201);

    const created = await api.call("POST", "/v1/issuers", {
      token,
      body: { issuer: ISSUER, kind: "jwt", name: "Partner IdP", jwks: { keys: [jwk] }, clients: [client.body.client_id], subject_mapping: "service" },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`${api.gatehouse.issuer}/admin/api${encoded}`);
    expect(created.body).toMatchObject({ issuer: ISSUER, kind: "jwt", enabled: true, max_assertion_lifetime: 300, algorithms: ["RS256", "ES256", "PS256", "EdDSA"] });

    const shown = await api.call("GET", encoded, { token });
    expect([shown.status, shown.headers.get("etag")]).toEqual([200, created.headers.get("etag")]);
    const listed = await api.call("GET", "/v1/issuers?search=partner", { token });
    expect(listed.body).toMatchObject({ total: 1, items: [{ issuer: ISSUER }] });

    // The grant trusts it at once: a service assertion gets a token.
    const assertion = await new SignJWT({ sub: "nightly-sync", jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: "ES256", kid: "partner-1" })
      .setIssuer(ISSUER)
      .setAudience(`${api.gatehouse.issuer}/token`)
      .setIssuedAt()
      .setExpirationTime("2m")
      .sign(keys.privateKey);
    const exchanged = await fetch(`${api.gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${client.body.client_id}:${client.body.client_secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }),
    });
    expect(exchanged.status).toBe(200);

    const stale = await api.call("PATCH", encoded, { token, body: { enabled: false }, headers: { "if-match": '"stale-version-000000"' } });
    expect(stale.status).toBe(412);
    const disabled = await api.call("PATCH", encoded, { token, body: { enabled: false }, headers: { "if-match": shown.headers.get("etag")! } });
    expect(disabled.body).toMatchObject({ enabled: false, name: "Partner IdP", subject_mapping: "service" });
    const changedIssuer = await api.call("PATCH", encoded, { token, body: { issuer: "https://other.example" } });
    expect(changedIssuer.status).toBe(400);

    expect((await api.call("DELETE", encoded, { token })).status).toBe(204);
    expect((await api.call("GET", encoded, { token })).status).toBe(404);
  });

  test("refusals name the field; a read-only token may not write", async () => {
    const token = await api.writeToken();
    const keys = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = await exportJWK(keys.privateKey);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ issuer: "https://a.example", kind: "jwt", name: "A" }, "jwks"],
      [{ issuer: "https://a.example", kind: "jwt", name: "A", jwks: { keys: [privateJwk] } }, "jwks"],
      [{ issuer: "https://a.example", kind: "saml", name: "A" }, "certificate"],
      [{ issuer: "https://a.example", kind: "saml", name: "A", certificate: "not a certificate" }, "certificate"],
      [{ issuer: "https://a.example", kind: "jwt", name: "A", jwks_uri: "https://a.example/jwks", algorithms: ["HS256"] }, "algorithms[0]"],
      [{ issuer: "https://a.example", kind: "oidc", name: "A" }, "kind"],
    ];
    for (const [body, field] of cases) {
      const refused = await api.call("POST", "/v1/issuers", { token, body });
      expect([field, refused.status, refused.body.errors?.map((e: { field: string }) => e.field)]).toEqual([field, 400, expect.arrayContaining([field])]);
    }
    const reader = await api.token(api.reader, "admin:read");
    const forbidden = await api.call("POST", "/v1/issuers", { token: reader, body: { issuer: "https://b.example", kind: "jwt", name: "B", jwks_uri: "https://b.example/jwks" } });
    expect(forbidden.status).toBe(403);
  });
});
