// The JWT authenticator with an issuer an API trusts: its JWKS served by a real local HTTP server
// that counts fetches, refetched on an unknown kid at most once per refetch interval, a rotated key
// accepted whatever made-up kids came first; and the token types a trusted issuer's access tokens may
// carry (typ JWT or none, as at Entra ID, Keycloak, Okta), with its ID tokens refused all the same.
import type http from "node:http";
import { JwtAuthenticator } from "../../../src/gateway/authenticators/jwt.ts";
import { BadGateway } from "../../../src/gateway/errors.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { OwnAccessTokens } from "../../../src/shared/own-access-tokens.ts";
import { RemoteKeySets } from "../../../src/shared/remote-key-sets.ts";
import type { TrustedIssuerSettings } from "../../../src/gateway/authenticators/jwt.ts";
import { accessToken, apiRecord, ISSUER, rejection, signingKey, sleep, startServer, type SigningKey, type TestServer } from "./helpers.ts";

const PARTNER = "https://partner.test";

let own: SigningKey;
let partnerKey: SigningKey;
let server: TestServer;
let served: { keys: unknown[] };
let fetches = 0;
let respond: (response: http.ServerResponse) => void;

const serveJwks = (response: http.ServerResponse): void => {
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
};

beforeAll(async () => {
  setLogLevel("silent");
  [own, partnerKey] = await Promise.all([signingKey("ES256", "own"), signingKey("RS256", "partner-1")]);
  server = await startServer((_request, response) => {
    fetches++;
    respond(response);
  });
});

afterAll(async () => {
  await server.close();
  setLogLevel("info");
});

beforeEach(() => {
  fetches = 0;
  served = { keys: [partnerKey.jwk] };
  respond = serveJwks;
});

function trusted(overrides: Partial<TrustedIssuerSettings> = {}): TrustedIssuerSettings {
  return { issuer: PARTNER, jwksUri: `${server.url}/jwks`, algorithms: ["RS256"], ...overrides };
}

function authenticator(cooldownSeconds = 30, jwksTimeoutMs?: number, refetchIntervalSeconds = 0.2): JwtAuthenticator {
  // As the server gives them: the same object until Gatehouse's keys change.
  const ownKeys = { keys: [own.jwk] };
  return new JwtAuthenticator({
    // Gatehouse's revocation list never applies to another issuer's tokens: "refuse everything" must not matter.
    ownTokens: new OwnAccessTokens({ issuer: ISSUER, keys: () => ownKeys, revocations: { refuses: () => true }, clockToleranceSeconds: 30 }),
    clockToleranceSeconds: 30,
    remoteKeySets: new RemoteKeySets({ cooldownSeconds, timeoutMs: jwksTimeoutMs, refetchIntervalSeconds }),
  });
}

const partnerToken = (key = partnerKey, claims = {}) => accessToken(key, { iss: PARTNER, ...claims });

describe("JwtAuthenticator: a trusted issuer", () => {
  test("a token of a trusted issuer is verified against its JWKS, fetched once", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    const principal = await jwt.authenticate(await partnerToken(), api);
    expect(principal.issuer).toBe(PARTNER);
    await jwt.authenticate(await partnerToken(), api);
    expect(fetches).toBe(1);
  });

  test("a cached token is not verified again (no JWKS fetch, no verification)", async () => {
    const jwt = authenticator(0);
    const api = apiRecord({ trustedIssuers: [trusted()] });
    const token = await partnerToken();
    await jwt.authenticate(token, api);
    await jwt.authenticate(token, api);
    expect(jwt.stats).toEqual({ verifications: 1, cacheHits: 1 });
    expect(fetches).toBe(1);
  });

  test("trust is per API: the issuer is untrusted for an API that does not list it, even after a cached success", async () => {
    const jwt = authenticator();
    const token = await partnerToken();
    await jwt.authenticate(token, apiRecord({ trustedIssuers: [trusted()] }));
    expect((await rejection(jwt.authenticate(token, apiRecord()))).reason).toBe("issuer_untrusted");
  });

  test("the issuer's own algorithm allowlist applies; HMAC is never allowed even if listed", async () => {
    const jwt = authenticator();
    expect((await rejection(jwt.authenticate(await partnerToken(), apiRecord({ trustedIssuers: [trusted({ algorithms: ["ES256"] })] })))).reason).toBe(
      "algorithm_not_allowed",
    );
    const ecPartner = await signingKey("ES256", "partner-ec");
    served = { keys: [ecPartner.jwk] };
    const hs = apiRecord({ trustedIssuers: [trusted({ algorithms: ["HS256"] })] });
    expect((await rejection(jwt.authenticate(await partnerToken(ecPartner), hs))).reason).toBe("algorithm_not_allowed");
  });

  test("a token claiming the partner but signed with Gatehouse's key is refused", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    expect((await rejection(jwt.authenticate(await accessToken(own, { iss: PARTNER }), api))).reason).toBe("algorithm_not_allowed");
    const forged = await accessToken({ ...own, alg: "ES256", kid: partnerKey.kid }, { iss: PARTNER });
    expect((await rejection(jwt.authenticate(forged, apiRecord({ trustedIssuers: [trusted({ algorithms: ["ES256", "RS256"] })] })))).reason).toBe("kid_unknown");
  });

  test("a key the issuer rotates to right after the first fetch is accepted at its first token, within the refetch interval", async () => {
    const jwt = authenticator(30);
    const api = apiRecord({ trustedIssuers: [trusted()] });
    await jwt.authenticate(await partnerToken(), api);
    expect(fetches).toBe(1);

    const rotated = await signingKey("RS256", "partner-2");
    served = { keys: [partnerKey.jwk, rotated.jwk] };
    await expect(jwt.authenticate(await partnerToken(rotated), api)).resolves.toMatchObject({ issuer: PARTNER });
    expect(fetches).toBe(2);
  });

  test("the attack run's sequence: a made-up kid does not keep a key rotated in just after it out", async () => {
    const jwt = authenticator(30, undefined, 0.3);
    const api = apiRecord({ trustedIssuers: [trusted()] });
    await jwt.authenticate(await partnerToken(), api);
    await sleep(350);
    const madeUp = await signingKey("RS256", "partner-made-up");
    expect((await rejection(jwt.authenticate(await partnerToken(madeUp), api))).reason).toBe("kid_unknown");
    expect(fetches).toBe(2);

    const rotated = await signingKey("RS256", "partner-2");
    served = { keys: [partnerKey.jwk, rotated.jwk] };
    const started = Date.now();
    await expect(jwt.authenticate(await partnerToken(rotated), api)).resolves.toMatchObject({ issuer: PARTNER });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fetches).toBe(3);
  });

  test("unknown kids cost at most one JWKS fetch per refetch interval, however many", async () => {
    const jwt = authenticator(30, undefined, 0.3);
    const api = apiRecord({ trustedIssuers: [trusted()] });
    await jwt.authenticate(await partnerToken(), api);
    const strangers = await Promise.all(Array.from({ length: 10 }, (_, i) => signingKey("RS256", `partner-x${i}`)));
    const tokens = await Promise.all(strangers.map((key) => partnerToken(key)));
    const reasons = new Set((await Promise.all(tokens.map((token) => rejection(jwt.authenticate(token, api))))).map((error) => error.reason));
    expect(reasons).toEqual(new Set(["kid_unknown"]));
    expect(fetches).toBe(2);
  });

  test("typ JWT and no typ (Microsoft Entra ID, Keycloak, Auth0; Okta, Amazon Cognito) are accepted from a trusted issuer by default, like at+jwt", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    for (const typ of ["JWT", "jwt", "application/JWT", undefined, "at+jwt", "application/at+jwt"]) {
      await expect(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER }, { typ }), api)).resolves.toMatchObject({ issuer: PARTNER });
    }
  });

  test("any other typ is refused (typ_mismatch): an ID token's or a logout token's explicit type, JOSE, a number", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    for (const typ of ["logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt", "JOSE", "token-introspection+jwt", 1]) {
      const error = await rejection(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER }, { typ }), api));
      expect([typ, error.reason, error.message]).toEqual([typ, "typ_mismatch", "the token is not an access token"]);
    }
  });

  test("the issuer's ID token is refused when not typed at+jwt: at_hash, c_hash, s_hash, a nonce, a typ claim other than Bearer", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    const idTokenMarks = [{ at_hash: "x" }, { c_hash: "x" }, { s_hash: "x" }, { nonce: "n" }, { typ: "ID" }, { typ: "Refresh" }, { typ: "Offline" }, { typ: 7 }];
    for (const claims of idTokenMarks) {
      for (const typ of ["JWT", undefined]) {
        const error = await rejection(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER, ...claims }, { typ }), api));
        expect([claims, typ, error.reason]).toEqual([claims, typ, "typ_mismatch"]);
      }
    }
    // An ID token's audience is its client, not the API: refused for that in any case.
    expect((await rejection(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER, aud: "client-1" }, { typ: "JWT" }), api))).reason).toBe("audience_mismatch");
  });

  test("what is not an ID token's mark passes: Keycloak's access token (typ claim Bearer, with its login's nonce), auth_time, sid; an at+jwt token is what it says", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    await expect(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER, typ: "Bearer", nonce: "n", auth_time: 1, sid: "s" }, { typ: "JWT" }), api)).resolves.toBeDefined();
    await expect(jwt.authenticate(await accessToken(partnerKey, { iss: PARTNER, nonce: "n", at_hash: "x" }, { typ: "at+jwt" }), api)).resolves.toBeDefined();
  });

  test('tokenTypes: ["at+jwt"] holds the issuer to RFC 9068; ["jwt"] refuses a token without typ; a setting naming no known type accepts nothing', async () => {
    const jwt = authenticator();
    const withTypes = (tokenTypes: string[]) => apiRecord({ trustedIssuers: [trusted({ tokenTypes })] });
    const token = (typ: string | undefined) => accessToken(partnerKey, { iss: PARTNER }, { typ });
    expect((await rejection(jwt.authenticate(await token("JWT"), withTypes(["at+jwt"])))).reason).toBe("typ_mismatch");
    expect((await rejection(jwt.authenticate(await token(undefined), withTypes(["at+jwt"])))).reason).toBe("typ_mismatch");
    await expect(jwt.authenticate(await token("at+jwt"), withTypes(["at+jwt"]))).resolves.toBeDefined();
    await expect(jwt.authenticate(await token("JWT"), withTypes(["jwt"]))).resolves.toBeDefined();
    expect((await rejection(jwt.authenticate(await token(undefined), withTypes(["jwt"])))).reason).toBe("typ_mismatch");
    await expect(jwt.authenticate(await token(undefined), withTypes(["none"]))).resolves.toBeDefined();
    expect((await rejection(jwt.authenticate(await token("at+jwt"), withTypes(["AT+JWT", "bogus"])))).reason).toBe("typ_mismatch");
  });

  test("Gatehouse's own tokens still need typ at+jwt, whatever an API's trusted issuers accept", async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    expect((await rejection(jwt.authenticate(await accessToken(own, {}, { typ: "JWT" }), api))).reason).toBe("typ_mismatch");
    expect((await rejection(jwt.authenticate(await accessToken(own, {}, { typ: undefined }), api))).reason).toBe("typ_mismatch");
    // Typed at+jwt it verifies (and then meets this suite's revocation list, which refuses everything).
    expect((await rejection(jwt.authenticate(await accessToken(own), api))).reason).toBe("token_revoked");
  });

  test('scopes in "scp" as a space-separated string (Microsoft Entra ID) or an array; "scope" wins when both are there', async () => {
    const jwt = authenticator();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    const scopes = async (claims: Record<string, unknown>) => [...(await jwt.authenticate(await partnerToken(partnerKey, claims), api)).scopes];
    expect(await scopes({ scope: undefined, scp: "orders:read orders:write" })).toEqual(["orders:read", "orders:write"]);
    expect(await scopes({ scope: undefined, scp: ["orders:read", 7] })).toEqual(["orders:read"]);
    expect(await scopes({ scope: "a", scp: "orders:read" })).toEqual(["a"]);
    expect(await scopes({ scope: undefined })).toEqual([]);
  });

  test("JWKS unavailable (HTTP 500, closed port, timeout) → 502 jwks_unavailable, quickly", async () => {
    respond = (response) => response.writeHead(500).end();
    const api = apiRecord({ trustedIssuers: [trusted()] });
    const error = await rejection(authenticator().authenticate(await partnerToken(), api));
    expect(error).toBeInstanceOf(BadGateway);
    expect([error.status, error.reason]).toEqual([502, "jwks_unavailable"]);

    const closed = await startServer(() => undefined);
    await closed.close();
    const unreachable = apiRecord({ trustedIssuers: [trusted({ jwksUri: `${closed.url}/jwks` })] });
    expect((await rejection(authenticator().authenticate(await partnerToken(), unreachable))).reason).toBe("jwks_unavailable");

    respond = () => undefined; // never answers
    const started = Date.now();
    expect((await rejection(authenticator(30, 200).authenticate(await partnerToken(), api))).reason).toBe("jwks_unavailable");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
