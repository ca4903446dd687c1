// The JWT authenticator with Gatehouse's own keys: real tokens signed with jose, every refusal with
// its reason id, the verified-token cache and the revocation list.
import { base64url, exportSPKI, SignJWT, type JSONWebKeySet } from "jose";
import { JwtAuthenticator, type JwtAuthenticatorOptions } from "../../../src/gateway/authenticators/jwt.ts";
import { InvalidToken } from "../../../src/gateway/errors.ts";
import { OwnAccessTokens } from "../../../src/shared/own-access-tokens.ts";
import { RemoteKeySets } from "../../../src/shared/remote-key-sets.ts";
import { accessToken, API, apiRecord, ISSUER, now, rejection, signingKey, type SigningKey } from "./helpers.ts";

let es: SigningKey;
let rs: SigningKey;
let ed: SigningKey;
let stranger: SigningKey;

beforeAll(async () => {
  [es, rs, ed, stranger] = await Promise.all([signingKey("ES256", "es-1"), signingKey("RS256", "rs-1"), signingKey("EdDSA", "ed-1"), signingKey("ES256", "stranger")]);
});

interface Setup {
  authenticator: JwtAuthenticator;
  revoked: Set<string>;
  keys: { current: JSONWebKeySet };
}

function setup(overrides: Partial<JwtAuthenticatorOptions> = {}): Setup {
  const revoked = new Set<string>();
  const keys = { current: { keys: [es.jwk, rs.jwk, ed.jwk] } as JSONWebKeySet };
  const revocations = { refuses: (claims: Record<string, unknown>) => revoked.has(`jti:${String(claims.jti)}`) || revoked.has(`grant:${String(claims.gid)}`) };
  const authenticator = new JwtAuthenticator({
    ownTokens: new OwnAccessTokens({ issuer: ISSUER, keys: () => keys.current, revocations, clockToleranceSeconds: 30 }),
    clockToleranceSeconds: 30,
    remoteKeySets: new RemoteKeySets({ cooldownSeconds: 30 }),
    ...overrides,
  });
  return { authenticator, revoked, keys };
}

async function reasonFor(token: string, options: Partial<JwtAuthenticatorOptions> = {}, api = apiRecord()): Promise<string> {
  const error = await rejection(setup(options).authenticator.authenticate(token, api));
  expect(error).toBeInstanceOf(InvalidToken);
  expect(error.status).toBe(401);
  expect(error.message).not.toContain(token);
  return error.reason;
}

describe("JwtAuthenticator: a valid access token", () => {
  test("ES256, RS256 and EdDSA tokens give the principal", async () => {
    const { authenticator } = setup();
    for (const key of [es, rs, ed]) {
      const token = await accessToken(key, { gid: "grant-1" });
      const principal = await authenticator.authenticate(token, apiRecord());
      expect(principal).toMatchObject({ subject: "user-1", clientId: "client-1", issuer: ISSUER, token });
      expect([...principal.scopes]).toEqual(["read", "write"]);
      expect(principal.expiresAt).toBe(principal.claims.exp);
      expect(principal.claims.gid).toBe("grant-1");
    }
  });

  test("aud may be an array containing the API; typ application/at+jwt in any case; scp instead of scope", async () => {
    const token = await accessToken(es, { aud: ["https://other.test", API], scope: undefined, scp: ["a", "b"] }, { typ: "Application/AT+JWT" });
    const principal = await setup().authenticator.authenticate(token, apiRecord());
    expect([...principal.scopes]).toEqual(["a", "b"]);
  });

  test("within the clock tolerance: just expired, nbf and iat slightly ahead", async () => {
    const t = now();
    const token = await accessToken(es, { iat: t + 20, nbf: t + 20, exp: t - 10 + 300 });
    await expect(setup().authenticator.authenticate(token, apiRecord())).resolves.toBeDefined();
    const expired = await accessToken(es, { iat: t - 600, exp: t - 10 });
    await expect(setup().authenticator.authenticate(expired, apiRecord())).resolves.toBeDefined();
  });
});

describe("JwtAuthenticator: refusals", () => {
  test("expired beyond the tolerance → token_expired", async () => {
    expect(await reasonFor(await accessToken(es, { iat: now() - 600, exp: now() - 31 }))).toBe("token_expired");
  });

  test("nbf in the future → token_not_yet_valid", async () => {
    expect(await reasonFor(await accessToken(es, { nbf: now() + 120 }))).toBe("token_not_yet_valid");
  });

  test("iat in the future beyond the tolerance → token_not_yet_valid", async () => {
    expect(await reasonFor(await accessToken(es, { iat: now() + 120 }))).toBe("token_not_yet_valid");
  });

  test("exp, iat or sub missing → claim_missing", async () => {
    for (const claim of ["exp", "iat", "sub"]) {
      expect(await reasonFor(await accessToken(es, { [claim]: undefined }))).toBe("claim_missing");
    }
  });

  test("a non-numeric exp → token_malformed", async () => {
    expect(await reasonFor(await accessToken(es, { exp: "tomorrow" as unknown as number }))).toBe("token_malformed");
  });

  test("another audience, or none → audience_mismatch", async () => {
    expect(await reasonFor(await accessToken(es, { aud: "https://other.test" }))).toBe("audience_mismatch");
    expect(await reasonFor(await accessToken(es, { aud: undefined }))).toBe("audience_mismatch");
  });

  test("an issuer that is neither Gatehouse nor trusted by the API → issuer_untrusted", async () => {
    expect(await reasonFor(await accessToken(es, { iss: "https://evil.test" }))).toBe("issuer_untrusted");
    expect(await reasonFor(await accessToken(es, { iss: undefined }))).toBe("claim_missing");
  });

  test("a tampered payload → signature_invalid", async () => {
    const [header, , signature] = (await accessToken(es)).split(".");
    const forged = base64url.encode(JSON.stringify({ iss: ISSUER, aud: API, sub: "admin", scope: "admin", iat: now(), exp: now() + 300 }));
    expect(await reasonFor(`${header}.${forged}.${signature}`)).toBe("signature_invalid");
  });

  test("a token signed by a key Gatehouse does not have → kid_unknown; same kid, other key → signature_invalid", async () => {
    expect(await reasonFor(await accessToken(stranger))).toBe("kid_unknown");
    expect(await reasonFor(await accessToken({ ...stranger, kid: es.kid }))).toBe("signature_invalid");
  });

  test('alg "none" (an unsigned token crafted by hand) → algorithm_not_allowed', async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt", kid: es.kid }));
    const payload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: API, sub: "user-1", iat: now(), exp: now() + 300 }));
    expect(await reasonFor(`${header}.${payload}.`)).toBe("algorithm_not_allowed");
  });

  test("HS256 with the RSA public key (PEM or JWK) as the HMAC secret → algorithm_not_allowed", async () => {
    const secrets = [new TextEncoder().encode(await exportSPKI(rs.publicKey)), new TextEncoder().encode(JSON.stringify(rs.jwk))];
    for (const secret of secrets) {
      const token = await new SignJWT({ iss: ISSUER, aud: API, sub: "user-1", iat: now(), exp: now() + 300 })
        .setProtectedHeader({ alg: "HS256", kid: rs.kid, typ: "at+jwt" })
        .sign(secret);
      expect(await reasonFor(token)).toBe("algorithm_not_allowed");
    }
  });

  test("an asymmetric algorithm Gatehouse does not sign with (PS256) → algorithm_not_allowed", async () => {
    const ps = await signingKey("PS256", "ps-1");
    const api = apiRecord();
    const { authenticator, keys } = setup();
    keys.current = { keys: [...keys.current.keys, ps.jwk] };
    const error = await rejection(authenticator.authenticate(await accessToken(ps), api));
    expect(error.reason).toBe("algorithm_not_allowed");
  });

  test("an ID token (typ JWT, or no typ) → typ_mismatch", async () => {
    expect(await reasonFor(await accessToken(es, { nonce: "n" }, { typ: "JWT" }))).toBe("typ_mismatch");
    expect(await reasonFor(await accessToken(es, {}, { typ: undefined }))).toBe("typ_mismatch");
  });

  test("an opaque token is token_not_jwt, with the hint to ask for this API's token; three-part garbage is token_malformed", async () => {
    for (const token of ["2YotnFZFEjr1zCsicMWpAA", "eyJhbGciOiJFUzI1NiJ9.e30"]) expect(await reasonFor(token)).toBe("token_not_jwt");
    const error = await rejection(setup().authenticator.authenticate("2YotnFZFEjr1zCsicMWpAA", apiRecord()));
    expect(error.message).toBe(`the access token is not a JWT, and this API accepts JWT access tokens: request it with resource=${apiRecord().identifier}`);
    expect(await reasonFor("a.b.c")).toBe("token_malformed");
  });

  test("a sender-constrained token (cnf) keeps its cnf: the pipeline asks for the DPoP proof (test/gateway/e2e/dpop.test.ts)", async () => {
    const principal = await setup().authenticator.authenticate(await accessToken(es, { cnf: { jkt: "abc" } }), apiRecord());
    expect(principal.claims.cnf).toEqual({ jkt: "abc" });
  });
});

describe("JwtAuthenticator: cache and revocation", () => {
  test("the same token again is not verified again", async () => {
    const { authenticator } = setup();
    const token = await accessToken(es);
    const first = await authenticator.authenticate(token, apiRecord());
    const second = await authenticator.authenticate(token, apiRecord());
    expect(second).toBe(first);
    expect(authenticator.stats).toEqual({ verifications: 1, cacheHits: 1 });
  });

  test("the cache is per API: a token cached for one API is still checked against another's audience", async () => {
    const { authenticator } = setup();
    const token = await accessToken(es, { aud: [API, "https://b.test"] });
    await authenticator.authenticate(token, apiRecord());
    await authenticator.authenticate(token, apiRecord({ identifier: "https://b.test" }));
    expect(authenticator.stats.verifications).toBe(2);
    expect((await rejection(authenticator.authenticate(token, apiRecord({ identifier: "https://c.test" })))).reason).toBe("audience_mismatch");
  });

  test("a failed verification is not cached as a success", async () => {
    const { authenticator } = setup();
    const token = await accessToken(es, { aud: "https://other.test" });
    for (let i = 0; i < 2; i++) expect((await rejection(authenticator.authenticate(token, apiRecord()))).reason).toBe("audience_mismatch");
    expect(authenticator.stats).toEqual({ verifications: 2, cacheHits: 0 });
  });

  test("revoked by jti → token_revoked, even after a cached success", async () => {
    const { authenticator, revoked } = setup();
    const token = await accessToken(es, { jti: "t-1" });
    await authenticator.authenticate(token, apiRecord());
    revoked.add("jti:t-1");
    const error = await rejection(authenticator.authenticate(token, apiRecord()));
    expect(error.reason).toBe("token_revoked");
    expect(authenticator.stats.verifications).toBe(1);
  });

  test("revoked grant → all its tokens refused, even after a cached success", async () => {
    const { authenticator, revoked } = setup();
    const tokens = await Promise.all([accessToken(es, { gid: "g-1" }), accessToken(rs, { gid: "g-1" })]);
    for (const token of tokens) await authenticator.authenticate(token, apiRecord());
    revoked.add("grant:g-1");
    for (const token of tokens) expect((await rejection(authenticator.authenticate(token, apiRecord()))).reason).toBe("token_revoked");
    expect(authenticator.stats.verifications).toBe(2);
    const other = await accessToken(es, { gid: "g-2" });
    await expect(authenticator.authenticate(other, apiRecord())).resolves.toBeDefined();
  });

  test("a cached token of a key taken out of Gatehouse's key set is refused at once, not at its exp", async () => {
    const { authenticator, keys } = setup();
    const token = await accessToken(es);
    await authenticator.authenticate(token, apiRecord());
    await authenticator.authenticate(token, apiRecord());
    expect(authenticator.stats).toEqual({ verifications: 1, cacheHits: 1 });
    keys.current = { keys: [rs.jwk, ed.jwk] };
    expect((await rejection(authenticator.authenticate(token, apiRecord()))).reason).toBe("kid_unknown");
    // A token of a key still in the set is verified once more, then cached again.
    const other = await accessToken(rs);
    await authenticator.authenticate(other, apiRecord());
    await authenticator.authenticate(other, apiRecord());
    expect(authenticator.stats.verifications).toBe(3);
  });

  test("key rotation: a new JWKS object is picked up, a removed key no longer verifies", async () => {
    const { authenticator, keys } = setup();
    const next = await signingKey("ES256", "es-2");
    const newToken = await accessToken(next);
    expect((await rejection(authenticator.authenticate(newToken, apiRecord()))).reason).toBe("kid_unknown");
    keys.current = { keys: [next.jwk] };
    await expect(authenticator.authenticate(newToken, apiRecord())).resolves.toBeDefined();
    expect((await rejection(authenticator.authenticate(await accessToken(es), apiRecord()))).reason).toBe("kid_unknown");
  });
});
