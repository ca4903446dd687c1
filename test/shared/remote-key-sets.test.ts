// The registry of remote key sets against a real local JWKS server that counts its fetches: single
// flight, refetch on an unknown kid right after the first fetch, cooldown between kid-miss refetches
// only, maximum age, what counts as unavailable, and jose's errors as reason ids.
import type http from "node:http";
import { errors, jwtVerify } from "jose";
import { jwtFailure, KeySetUnavailable, RemoteKeySets } from "../../src/shared/remote-key-sets.ts";
import { accessToken, signingKey, sleep, startServer, type SigningKey, type TestServer } from "../gateway/authenticators/helpers.ts";

let first: SigningKey;
let second: SigningKey;
let server: TestServer;
let served: unknown;
let fetches = 0;
let respond: (response: http.ServerResponse) => void;

const serveJwks = (response: http.ServerResponse): void => {
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
};

beforeAll(async () => {
  [first, second] = await Promise.all([signingKey("ES256", "k-1"), signingKey("ES256", "k-2")]);
  server = await startServer((_request, response) => {
    fetches++;
    respond(response);
  });
});

afterAll(() => server.close());

beforeEach(() => {
  fetches = 0;
  served = { keys: [first.jwk] };
  respond = serveJwks;
});

/** Verifies a token signed with key against the set at /jwks; resolves to the error it fails with, or "ok". */
async function verifyWith(keySets: RemoteKeySets, key: SigningKey): Promise<unknown> {
  try {
    await jwtVerify(await accessToken(key), keySets.resolver(`${server.url}/jwks`), { algorithms: ["ES256"] });
    return "ok";
  } catch (error) {
    return error;
  }
}

describe("RemoteKeySets", () => {
  test("concurrent first uses share one fetch, and later ones use the kept set", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30 });
    expect(await Promise.all(Array.from({ length: 10 }, () => verifyWith(keySets, first)))).toEqual(Array(10).fill("ok"));
    expect(await verifyWith(keySets, first)).toBe("ok");
    expect(fetches).toBe(1);
    expect(keySets.stats.fetches).toBe(1);
  });

  test("the same URL gives the same resolver", () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30 });
    expect(keySets.resolver(`${server.url}/jwks`)).toBe(keySets.resolver(`${server.url}/jwks`));
  });

  test("a key published right after the first fetch is fetched at the first token that names it", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    served = { keys: [first.jwk, second.jwk] };
    expect(await verifyWith(keySets, second)).toBe("ok");
    expect(fetches).toBe(2);
  });

  test("the cooldown runs from the last kid-miss refetch: none within it, one after it; none for a set fetched for the same token", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 0.4 });
    const stranger = await signingKey("ES256", "k-x");
    // The first fetch is made for this token: nothing newer to fetch.
    expect(await verifyWith(keySets, stranger)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(1);
    expect(await verifyWith(keySets, stranger)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(2);
    served = { keys: [first.jwk, second.jwk] };
    const flood = await Promise.all(Array.from({ length: 10 }, () => verifyWith(keySets, second)));
    expect(flood.every((error) => error instanceof errors.JWKSNoMatchingKey)).toBe(true);
    expect(fetches).toBe(2);
    await sleep(500);
    expect(await Promise.all(Array.from({ length: 10 }, () => verifyWith(keySets, second)))).toEqual(Array(10).fill("ok"));
    expect(fetches).toBe(3);
  });

  test("a set older than its maximum age is fetched again before use: a withdrawn key stops verifying", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, maxAgeSeconds: 0.2 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    served = { keys: [second.jwk] };
    await sleep(300);
    expect(await verifyWith(keySets, first)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(2);
  });

  test("a status other than 200, a redirect, a body that is not JSON or not a key set, a timeout → KeySetUnavailable", async () => {
    const answers: Array<(response: http.ServerResponse) => void> = [
      (response) => response.writeHead(500).end(),
      (response) => response.writeHead(302, { location: `${server.url}/elsewhere` }).end(),
      (response) => response.writeHead(200, { "content-type": "application/json" }).end("{not json"),
      (response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: "none" })),
      () => undefined,
    ];
    for (const answer of answers) {
      respond = answer;
      const error = await verifyWith(new RemoteKeySets({ cooldownSeconds: 30, timeoutMs: 200 }), first);
      expect(error).toBeInstanceOf(KeySetUnavailable);
      expect((error as KeySetUnavailable).jwksUri).toBe(`${server.url}/jwks`);
    }
  });

  test("a failed fetch is not kept: the next use fetches again", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30 });
    respond = (response) => response.writeHead(503).end();
    expect(await verifyWith(keySets, first)).toBeInstanceOf(KeySetUnavailable);
    respond = serveJwks;
    expect(await verifyWith(keySets, first)).toBe("ok");
    expect(fetches).toBe(2);
  });
});

describe("jwtFailure", () => {
  test("maps jose's errors to reason ids, with the claim at fault; anything else is not its business", () => {
    expect(jwtFailure(new errors.JWTExpired("expired", {}))).toEqual({ reason: "token_expired" });
    expect(jwtFailure(new errors.JWTClaimValidationFailed("aud", {}, "aud", "check_failed"))).toEqual({ reason: "audience_mismatch", claim: "aud" });
    expect(jwtFailure(new errors.JWTClaimValidationFailed("missing", {}, "sub", "missing"))).toEqual({ reason: "claim_missing", claim: "sub" });
    expect(jwtFailure(new errors.JWTClaimValidationFailed("typ", {}, "typ", "check_failed"))).toEqual({ reason: "typ_mismatch", claim: "typ" });
    expect(jwtFailure(new errors.JWKSNoMatchingKey())).toEqual({ reason: "kid_unknown" });
    expect(jwtFailure(new errors.JOSEAlgNotAllowed("alg"))).toEqual({ reason: "algorithm_not_allowed" });
    expect(jwtFailure(new KeySetUnavailable("https://issuer.test/jwks"))).toBeUndefined();
    expect(jwtFailure(new Error("other"))).toBeUndefined();
  });
});
