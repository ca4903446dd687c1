// OwnAccessTokens (JWT introspection, token info, the admin API, token exchange) remembers the tokens it
// verified: a repeated token costs no second signature check, yet a revocation, an expiry and a key
// taken out of the set still take effect at once.
import { exportJWK, generateKeyPair, SignJWT, type JSONWebKeySet, type JWTPayload } from "jose";
import { OwnAccessTokens } from "../../src/shared/own-access-tokens.ts";

const ISSUER = "https://auth.example.com";
const API = "https://orders.example.com";

async function signer(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const sign = (claims: JWTPayload, expiresIn = 600) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: "app", scope: "orders:read", ...claims })
      .setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" })
      .setIssuer(ISSUER)
      .setAudience(API)
      .setSubject("user-1")
      .setIssuedAt(now)
      .setExpirationTime(now + expiresIn)
      .setJti(crypto.randomUUID())
      .sign(privateKey);
  };
  return { jwk, sign };
}

/** keys() as the server gives it: the same object until the keys change. */
function fixedKeys(...jwks: JSONWebKeySet["keys"]): () => JSONWebKeySet {
  const set = { keys: jwks };
  return () => set;
}

describe("OwnAccessTokens", () => {
  test("a token verified once is not verified again; revocation is still asked every time", async () => {
    const key = await signer("k1");
    const revoked = new Set<string>();
    const tokens = new OwnAccessTokens({ issuer: ISSUER, keys: fixedKeys(key.jwk), revocations: { refuses: (claims) => revoked.has(String(claims.jti)) } });
    const token = await key.sign({});
    const first = await tokens.verify(token, API);
    expect(first).toMatchObject({ sub: "user-1", aud: API });
    expect(await tokens.verify(token, API)).toEqual(first);
    expect(await tokens.verify(token)).toEqual(first);
    expect(tokens.verifications).toBe(2); // once per audience asked for
    revoked.add(String(first!.jti));
    expect(await tokens.verify(token, API)).toBeUndefined();
    expect(tokens.verifications).toBe(2);
  });

  test("a wrong audience, a forged signature or garbage is refused, and the refusal is not remembered as a success", async () => {
    const key = await signer("k1");
    const other = await signer("k1");
    const tokens = new OwnAccessTokens({ issuer: ISSUER, keys: fixedKeys(key.jwk), revocations: { refuses: () => false } });
    const token = await key.sign({});
    expect(await tokens.verify(token, "https://elsewhere.example.com")).toBeUndefined();
    expect(await tokens.verify(await other.sign({}), API)).toBeUndefined();
    expect(await tokens.verify("not.a.jwt", API)).toBeUndefined();
    expect(await tokens.verify(token, "https://elsewhere.example.com")).toBeUndefined();
    expect(await tokens.verify(token, API)).toBeDefined();
  });

  test("a remembered token dies at its exp", async () => {
    const key = await signer("k1");
    const tokens = new OwnAccessTokens({ issuer: ISSUER, keys: fixedKeys(key.jwk), revocations: { refuses: () => false } });
    const token = await key.sign({}, 1);
    expect(await tokens.verify(token, API)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1100 + (1000 - (Date.now() % 1000))));
    expect(await tokens.verify(token, API)).toBeUndefined();
  });

  describe("when the keys change", () => {
    /** Two keys published; a token of each; take() removes the first from the set. */
    async function twoKeys() {
      const k1 = await signer("k1");
      const k2 = await signer("k2");
      let set: JSONWebKeySet = { keys: [k1.jwk, k2.jwk] };
      const tokens = new OwnAccessTokens({ issuer: ISSUER, keys: () => set, revocations: { refuses: () => false } });
      return { tokens, old: await k1.sign({}), current: await k2.sign({}), takeOutFirst: () => (set = { keys: [k2.jwk] }) };
    }

    test("tokens of a key taken out of the set are refused at once", async () => {
      const { tokens, old, current, takeOutFirst } = await twoKeys();
      expect(await tokens.verify(old, API)).toBeDefined();
      expect(await tokens.verify(current, API)).toBeDefined();
      takeOutFirst();
      expect(await tokens.verify(old, API)).toBeUndefined();
      expect(await tokens.verify(current, API)).toBeDefined();
    });

    test("a token whose check was under way when its key was taken out is not remembered", async () => {
      const { tokens, old, current, takeOutFirst } = await twoKeys();
      const pending = tokens.verify(old, API);
      takeOutFirst();
      await tokens.verify(current, API);
      await pending; // checked with the keys of its start: may answer either way, but must not be kept
      expect(await tokens.verify(old, API)).toBeUndefined();
    });
  });
});
