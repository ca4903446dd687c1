// The introspection authenticator against a real local RFC 7662 endpoint that checks client
// authentication and counts calls: caching and its bounds, the negative cache, single flight, failures.
import type http from "node:http";
import { IntrospectionAuthenticator, type IntrospectionAuthenticatorOptions } from "../../../src/gateway/authenticators/introspection.ts";
import { BadGateway, InvalidToken } from "../../../src/gateway/errors.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { API, apiRecord, ISSUER, now, readBody, rejection, sleep, startServer, type TestServer } from "./helpers.ts";

const CLIENT_ID = "gateway:1 é";
const CLIENT_SECRET = "s3cr%t+/ &=";

let server: TestServer;
let calls = 0;
let delayMs = 0;
let answers: Map<string, Record<string, unknown>>;
let failWith: ((response: http.ServerResponse) => void) | undefined;

/** RFC 6749 §2.3.1 decoding of one half of the Basic credentials. */
const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, "%20"));

beforeAll(async () => {
  setLogLevel("silent");
  server = await startServer(async (request, response) => {
    calls++;
    const body = new URLSearchParams(await readBody(request));
    if (delayMs) await sleep(delayMs);
    if (failWith) return failWith(response);
    const [scheme, credentials = ""] = (request.headers.authorization ?? "").split(" ");
    const [id = "", secret = ""] = Buffer.from(credentials, "base64").toString().split(":");
    if (
      request.method !== "POST" ||
      scheme !== "Basic" ||
      formDecode(id) !== CLIENT_ID ||
      formDecode(secret) !== CLIENT_SECRET ||
      request.headers["content-type"] !== "application/x-www-form-urlencoded" ||
      body.get("token_type_hint") !== "access_token"
    ) {
      response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "invalid_client" }));
      return;
    }
    const answer = answers.get(body.get("token") ?? "") ?? { active: false };
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
});

afterAll(async () => {
  await server.close();
  setLogLevel("info");
});

beforeEach(() => {
  calls = 0;
  delayMs = 0;
  failWith = undefined;
  answers = new Map();
});

function active(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { active: true, iss: ISSUER, sub: "user-1", client_id: "client-1", aud: API, scope: "read write", token_type: "Bearer", iat: now(), exp: now() + 300, ...overrides };
}

function authenticator(overrides: Partial<IntrospectionAuthenticatorOptions> = {}): IntrospectionAuthenticator {
  return new IntrospectionAuthenticator({
    endpoint: `${server.url}/introspect`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    cacheTtlSeconds: 60,
    timeoutMs: 2000,
    ...overrides,
  });
}

describe("IntrospectionAuthenticator", () => {
  test("an active token gives the principal; client authenticated with form-encoded Basic credentials", async () => {
    answers.set("tok-1", active({ gid: "g-1" }));
    const principal = await authenticator().authenticate("tok-1", apiRecord());
    expect(principal).toMatchObject({ subject: "user-1", clientId: "client-1", issuer: ISSUER, token: "tok-1" });
    expect([...principal.scopes]).toEqual(["read", "write"]);
    expect(principal.claims.gid).toBe("g-1");
    expect(calls).toBe(1);
  });

  test("a client-credentials token (no sub): the client is the subject", async () => {
    answers.set("cc", active({ sub: undefined, client_id: "service-a" }));
    expect((await authenticator().authenticate("cc", apiRecord())).subject).toBe("service-a");
  });

  test("inactive → token_inactive", async () => {
    const error = await rejection(authenticator().authenticate("unknown", apiRecord()));
    expect(error).toBeInstanceOf(InvalidToken);
    expect([error.status, error.reason]).toEqual([401, "token_inactive"]);
  });

  test("a refresh token (no token_type, as oidc-provider answers, or refresh_token) → token_not_access_token", async () => {
    answers.set("rt-1", active({ token_type: undefined }));
    answers.set("rt-2", active({ token_type: "refresh_token" }));
    for (const token of ["rt-1", "rt-2"]) expect((await rejection(authenticator().authenticate(token, apiRecord()))).reason).toBe("token_not_access_token");
  });

  test("a DPoP-bound token (token_type DPoP) keeps its cnf: the pipeline asks for the proof (test/gateway/e2e/dpop.test.ts)", async () => {
    answers.set("dpop", active({ token_type: "DPoP", cnf: { jkt: "x" } }));
    expect((await authenticator().authenticate("dpop", apiRecord())).claims.cnf).toEqual({ jkt: "x" });
  });

  test("another audience, or none (a token for userinfo only) → audience_mismatch", async () => {
    answers.set("other", active({ aud: "https://other.test" }));
    answers.set("none", active({ aud: undefined }));
    for (const token of ["other", "none"]) expect((await rejection(authenticator().authenticate(token, apiRecord()))).reason).toBe("audience_mismatch");
  });

  test("an active answer is cached per token: one call for repeated use and for several APIs", async () => {
    answers.set("multi", active({ aud: [API, "https://b.test"] }));
    const introspection = authenticator();
    const first = await introspection.authenticate("multi", apiRecord());
    expect(await introspection.authenticate("multi", apiRecord())).toBe(first);
    await introspection.authenticate("multi", apiRecord({ identifier: "https://b.test" }));
    expect((await rejection(introspection.authenticate("multi", apiRecord({ identifier: "https://c.test" })))).reason).toBe("audience_mismatch");
    expect(calls).toBe(1);
    expect(introspection.stats.introspections).toBe(1);
  });

  test("the cache lives no longer than the TTL", async () => {
    answers.set("ttl", active());
    const introspection = authenticator({ cacheTtlSeconds: 0.3 });
    await introspection.authenticate("ttl", apiRecord());
    await introspection.authenticate("ttl", apiRecord());
    expect(calls).toBe(1);
    await sleep(400);
    answers.delete("ttl"); // revoked at the server meanwhile
    expect((await rejection(introspection.authenticate("ttl", apiRecord()))).reason).toBe("token_inactive");
    expect(calls).toBe(2);
  });

  test("the cache lives no longer than the token", async () => {
    answers.set("short", active({ exp: now() + 1 }));
    const introspection = authenticator({ cacheTtlSeconds: 60 });
    await introspection.authenticate("short", apiRecord());
    await sleep(1100);
    answers.delete("short");
    expect((await rejection(introspection.authenticate("short", apiRecord()))).reason).toBe("token_inactive");
    expect(calls).toBe(2);
  });

  test("a refusal is cached briefly: repeated bad tokens cost one call per negative TTL", async () => {
    const introspection = authenticator({ negativeCacheSeconds: 0.3 });
    for (let i = 0; i < 5; i++) expect((await rejection(introspection.authenticate("bad", apiRecord()))).reason).toBe("token_inactive");
    expect(calls).toBe(1);
    await sleep(400);
    answers.set("bad", active()); // e.g. the token was only just issued
    await expect(introspection.authenticate("bad", apiRecord())).resolves.toBeDefined();
    expect(calls).toBe(2);
  });

  test("single flight: 50 concurrent requests with one token → one introspection call", async () => {
    answers.set("busy", active());
    delayMs = 100;
    const introspection = authenticator();
    const principals = await Promise.all(Array.from({ length: 50 }, () => introspection.authenticate("busy", apiRecord())));
    expect(calls).toBe(1);
    expect(new Set(principals).size).toBe(1);
  });

  test("single flight for refusals too", async () => {
    delayMs = 100;
    const introspection = authenticator();
    const reasons = await Promise.all(Array.from({ length: 20 }, async () => (await rejection(introspection.authenticate("nope", apiRecord()))).reason));
    expect(new Set(reasons)).toEqual(new Set(["token_inactive"]));
    expect(calls).toBe(1);
  });

  test("a failing server (error status, bad client credentials, not JSON, unreachable) → 502 introspection_unavailable, not cached", async () => {
    answers.set("tok", active());
    const cases: ((response: http.ServerResponse) => void)[] = [
      (response) => response.writeHead(500).end(),
      (response) => response.writeHead(200, { "content-type": "text/html" }).end("<html>"),
      (response) => response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'),
      (response) => response.writeHead(302, { location: "/elsewhere" }).end(),
    ];
    const introspection = authenticator();
    for (const fail of cases) {
      failWith = fail;
      const error = await rejection(introspection.authenticate("tok", apiRecord()));
      expect(error).toBeInstanceOf(BadGateway);
      expect([error.status, error.reason]).toEqual([502, "introspection_unavailable"]);
    }
    expect((await rejection(authenticator({ clientSecret: "wrong" }).authenticate("tok", apiRecord()))).reason).toBe("introspection_unavailable");

    const closed = await startServer(() => undefined);
    await closed.close();
    expect((await rejection(authenticator({ endpoint: `${closed.url}/introspect` }).authenticate("tok", apiRecord()))).reason).toBe("introspection_unavailable");

    failWith = undefined;
    await expect(introspection.authenticate("tok", apiRecord())).resolves.toBeDefined();
    expect(calls).toBe(cases.length + 2);
  });

  test("a server that does not answer → 502 after the timeout, quickly", async () => {
    failWith = () => undefined; // holds the request open until the server closes
    const started = Date.now();
    const error = await rejection(authenticator({ timeoutMs: 200 }).authenticate("slow", apiRecord()));
    expect(error).toBeInstanceOf(BadGateway);
    expect(error.reason).toBe("introspection_unavailable");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("options are checked when the authenticator is made", () => {
    expect(() => authenticator({ endpoint: "not a url" })).toThrow(TypeError);
    expect(() => authenticator({ cacheTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => authenticator({ timeoutMs: 0 })).toThrow(RangeError);
  });
});
