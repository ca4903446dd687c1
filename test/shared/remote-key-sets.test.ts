// The registry of remote key sets against a real local JWKS server that counts its fetches: single
// flight, refetch on an unknown kid, fetches spaced by the refetch interval whoever causes them, a kid
// refused without a fetch only for tokens issued before the fetch that lacked it, maximum age, what
// counts as unavailable, and jose's errors as reason ids. The attack: one made-up kid right before a
// real rotation must not keep the rotated key out for the cooldown.
import type http from "node:http";
import { errors, jwtVerify, type JWTPayload } from "jose";
import { jwtFailure, KeySetUnavailable, RemoteKeySets } from "../../src/shared/remote-key-sets.ts";
import { accessToken, now, signingKey, sleep, startServer, type SigningKey, type TestServer } from "../gateway/authenticators/helpers.ts";

let first: SigningKey;
let second: SigningKey;
let server: TestServer;
let served: unknown;
let fetches = 0;
/** When each fetch arrived, epoch ms. */
let fetchedAt: number[] = [];
let respond: (response: http.ServerResponse) => void;

const serveJwks = (response: http.ServerResponse): void => {
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
};

beforeAll(async () => {
  [first, second] = await Promise.all([signingKey("ES256", "k-1"), signingKey("ES256", "k-2")]);
  server = await startServer((_request, response) => {
    fetches++;
    fetchedAt.push(Date.now());
    respond(response);
  });
});

afterAll(() => server.close());

beforeEach(() => {
  fetches = 0;
  fetchedAt = [];
  served = { keys: [first.jwk] };
  respond = serveJwks;
});

/** Verifies a token signed with key (claims added) against the set at /jwks; resolves to the error it fails with, or "ok". */
async function verifyWith(keySets: RemoteKeySets, key: SigningKey, claims: JWTPayload = {}): Promise<unknown> {
  return verifyToken(keySets, await accessToken(key, claims));
}

async function verifyToken(keySets: RemoteKeySets, token: string): Promise<unknown> {
  try {
    await jwtVerify(token, keySets.resolver(`${server.url}/jwks`), { algorithms: ["ES256"] });
    return "ok";
  } catch (error) {
    return error;
  }
}

/** How long a call takes, in ms, with its outcome. */
async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const outcome = await call();
  return [outcome, Date.now() - started];
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

  test("a key published right after the first fetch is fetched for the first token that names it, once the refetch interval has passed", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0.2 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    served = { keys: [first.jwk, second.jwk] };
    const [outcome, took] = await timed(() => verifyWith(keySets, second));
    expect(outcome).toBe("ok");
    expect(took).toBeLessThan(1000);
    expect(fetches).toBe(2);
  });

  test("the attack run's sequence: a made-up kid, then a key really rotated in 3 s later — accepted at its first token, within the interval (default settings)", async () => {
    // GATEWAY_JWKS_COOLDOWN's default: the refetch interval is then 5 s.
    const keySets = new RemoteKeySets({ cooldownSeconds: 30 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    const madeUp = await signingKey("ES256", "made-up");
    await sleep(5000);
    // The attacker's kid costs one fetch and finds nothing.
    expect(await verifyWith(keySets, madeUp)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(2);
    await sleep(3000);
    served = { keys: [first.jwk, second.jwk] };
    // Before this design: refused (kid_unknown) for the 27 s left of a cooldown the attacker armed.
    const [outcome, took] = await timed(() => verifyWith(keySets, second));
    expect(outcome).toBe("ok");
    expect(took).toBeLessThan(2500);
    expect(fetches).toBe(3);
  }, 15_000);

  test("the same sequence without a pause: the real token waits for the next allowed fetch instead of being refused", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0.4 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    await sleep(450);
    expect(await verifyWith(keySets, await signingKey("ES256", "made-up"))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    served = { keys: [first.jwk, second.jwk] };
    const [outcome, took] = await timed(() => verifyWith(keySets, second));
    expect(outcome).toBe("ok");
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1000);
    expect(fetches).toBe(3);
  });

  test("a made-up kid the attacker guesses the issuer will use next blocks nothing: the real token is issued after the fetch that lacked it", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0.2 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    await sleep(250);
    // Signed with another key under the real next kid: no fetch can find a key that verifies it.
    const impostor = await signingKey("ES256", second.kid);
    expect(await verifyWith(keySets, impostor)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(await verifyWith(keySets, impostor, { iat: now() - 3600 })).toBeInstanceOf(errors.JWKSNoMatchingKey);
    const before = fetches;
    served = { keys: [first.jwk, second.jwk] };
    expect(await verifyWith(keySets, second)).toBe("ok");
    expect(fetches).toBe(before + 1);
  });

  test("a flood of made-up kids costs one fetch per refetch interval, shared by every token waiting for it", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0.3 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    const strangers = await Promise.all(Array.from({ length: 20 }, (_, i) => signingKey("ES256", `made-up-${i}`)));
    const tokens = await Promise.all(strangers.map((key) => accessToken(key)));
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.all(tokens.map((token) => verifyToken(keySets, token)));
      expect(outcomes.every((outcome) => outcome instanceof errors.JWKSNoMatchingKey)).toBe(true);
    }
    expect(fetches).toBeLessThanOrEqual(4);
    for (let i = 1; i < fetchedAt.length; i++) expect(fetchedAt[i]! - fetchedAt[i - 1]!).toBeGreaterThanOrEqual(280);
  });

  test("a kid missing from a fetch made after the token was issued is refused at once, without a fetch, until the cooldown ends", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 0.6, refetchIntervalSeconds: 0 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    const stranger = await signingKey("ES256", "withdrawn");
    // Issued two minutes ago (past the 60 s skew allowance): an old token of a key the issuer no longer publishes.
    const old = await accessToken(stranger, { iat: now() - 120 });
    expect(await verifyToken(keySets, old)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(2);
    for (let i = 0; i < 5; i++) expect(await verifyToken(keySets, old)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(2);
    // A token of that kid issued now may be of a key published since: it is fetched for.
    expect(await verifyWith(keySets, stranger)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(3);
    await sleep(700);
    expect(await verifyToken(keySets, old)).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(4);
  });

  test("a token without a readable iat is never refused without a fetch", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0 });
    expect(await verifyWith(keySets, first)).toBe("ok");
    const stranger = await signingKey("ES256", "no-iat");
    for (let i = 0; i < 3; i++) expect(await verifyWith(keySets, stranger, { iat: undefined })).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(4);
  });

  test("a set fetched for this very token is not fetched again for its unknown kid", async () => {
    const keySets = new RemoteKeySets({ cooldownSeconds: 30, refetchIntervalSeconds: 0 });
    expect(await verifyWith(keySets, await signingKey("ES256", "k-x"))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(fetches).toBe(1);
  });

  test("options are checked", () => {
    expect(() => new RemoteKeySets({ cooldownSeconds: -1 })).toThrow(RangeError);
    expect(() => new RemoteKeySets({ cooldownSeconds: 1, refetchIntervalSeconds: -1 })).toThrow(RangeError);
    expect(() => new RemoteKeySets({ cooldownSeconds: 1, clockSkewSeconds: Number.NaN })).toThrow(RangeError);
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
