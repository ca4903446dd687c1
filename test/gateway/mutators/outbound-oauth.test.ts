// Outbound OAuth against a real token endpoint on 127.0.0.1: client authentication, parameters,
// caching and expiry (frozen clock), single flight, identity-provider failures, ${NAME} references.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { BadGateway } from "../../../src/gateway/errors.ts";
import { OutboundTokenProvider, UnresolvedReference, resolveReferences, type OutboundAttachment, type OutboundOAuth } from "../../../src/gateway/mutators/outbound-oauth.ts";
import { seal } from "../../../src/services/sealing.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";

const KEK = "k".repeat(40);
const SECRET = "s3cret +/&:é";

interface TokenCall {
  authorization: string | undefined;
  contentType: string | undefined;
  params: URLSearchParams;
}

type Answer = { status: number; body: string } | "hang";

interface TokenEndpoint {
  url: string;
  calls: TokenCall[];
  /** What the next calls get; tokens are numbered by call. */
  answer: (call: number) => Answer;
  /** Delay before answering, so concurrent callers overlap. */
  delayMs: number;
  close: () => Promise<void>;
}

async function startTokenEndpoint(): Promise<TokenEndpoint> {
  const endpoint: TokenEndpoint = {
    url: "",
    calls: [],
    answer: (call) => ({ status: 200, body: JSON.stringify({ access_token: `token-${call}`, token_type: "Bearer", expires_in: 3600 }) }),
    delayMs: 0,
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      endpoint.calls.push({ authorization: req.headers.authorization, contentType: req.headers["content-type"], params: new URLSearchParams(body) });
      const answer = endpoint.answer(endpoint.calls.length);
      if (answer === "hang") return;
      setTimeout(() => res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body), endpoint.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
  endpoint.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return endpoint;
}

/** An attachment of the outbound_oauth policy, to an API (its identifier is the cache entry). */
function apiWith(outbound: Partial<OutboundOAuth> & { tokenUrl: string }, identifier = "https://orders.example/api"): OutboundAttachment {
  return {
    key: `api ${identifier}`,
    api: identifier,
    config: {
      clientId: "gatehouse-client",
      clientSecretSealed: seal(SECRET, KEK, "outbound-client-secret"),
      authMethod: "basic",
      scope: null,
      resource: null,
      header: "Authorization",
      removeHeaders: [],
      ...outbound,
    },
  };
}

/** Runs fn with everything the logger writes captured. */
async function capturingLogs(fn: () => Promise<unknown>): Promise<{ error: unknown; logs: string }> {
  let logs = "";
  const writes = [process.stdout.write, process.stderr.write];
  const capture = ((chunk: string | Uint8Array) => {
    logs += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  setLogLevel("debug");
  try {
    await fn();
    return { error: undefined, logs };
  } catch (error) {
    return { error, logs };
  } finally {
    [process.stdout.write, process.stderr.write] = writes;
    setLogLevel("silent");
  }
}

describe("resolveReferences", () => {
  test("replaces each ${NAME} from the given environment", () => {
    expect(resolveReferences("${IDP_BASE}/tenant/${TENANT}/token", { IDP_BASE: "https://login.example", TENANT: "t-1" })).toBe("https://login.example/tenant/t-1/token");
    expect(resolveReferences("no references, $HOME or ${lower-case}", {})).toBe("no references, $HOME or ${lower-case}");
    expect(resolveReferences("${EMPTY}", { EMPTY: "" })).toBe("");
  });

  test("an unset variable is an error naming it", () => {
    expect(() => resolveReferences("${IDP_BASE}/token", { OTHER: "x" })).toThrow(UnresolvedReference);
    expect(() => resolveReferences("${IDP_BASE}/token", {})).toThrow("${IDP_BASE} is referenced but the environment variable IDP_BASE is not set");
  });
});

describe("OutboundTokenProvider", () => {
  let idp: TokenEndpoint;
  let clock: number;
  const provider = (options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) =>
    new OutboundTokenProvider({ keyEncryptionSecret: KEK, env: options.env ?? {}, timeoutMs: options.timeoutMs, now: () => clock });

  beforeAll(() => setLogLevel("silent"));
  afterAll(() => setLogLevel("info"));
  beforeEach(async () => {
    idp = await startTokenEndpoint();
    clock = Date.UTC(2030, 0, 1);
  });
  afterEach(() => idp.close());

  test("Basic authentication sends the form-urlencoded id and secret (RFC 6749 §2.3.1), never in the body", async () => {
    const headers = await provider().headersFor(apiWith({ tokenUrl: idp.url, clientId: "client:1 a", removeHeaders: ["Ocp-Apim-Subscription-Key"] }));
    expect(headers).toEqual({ set: { Authorization: "Bearer token-1" } });
    const [call] = idp.calls;
    expect(call.contentType).toBe("application/x-www-form-urlencoded");
    expect(call.params.get("grant_type")).toBe("client_credentials");
    expect(call.params.has("client_id")).toBe(false);
    expect(call.params.has("client_secret")).toBe(false);
    const [id, secret] = Buffer.from(call.authorization!.replace(/^Basic /, ""), "base64").toString("utf8").split(":");
    expect(id).toBe("client%3A1+a");
    expect(new URLSearchParams(`s=${secret}`).get("s")).toBe(SECRET);
  });

  test("body authentication sends client_id and client_secret as parameters", async () => {
    await provider().headersFor(apiWith({ tokenUrl: idp.url, authMethod: "body" }));
    const [call] = idp.calls;
    expect(call.authorization).toBeUndefined();
    expect(Object.fromEntries(call.params)).toEqual({ grant_type: "client_credentials", client_id: "gatehouse-client", client_secret: SECRET });
  });

  test("scope and resource are sent when configured, and only then", async () => {
    await provider().headersFor(apiWith({ tokenUrl: idp.url, scope: "orders.read orders.write", resource: "api://orders" }));
    await provider().headersFor(apiWith({ tokenUrl: idp.url }));
    expect(idp.calls[0].params.get("scope")).toBe("orders.read orders.write");
    expect(idp.calls[0].params.get("resource")).toBe("api://orders");
    expect(idp.calls[1].params.has("scope")).toBe(false);
    expect(idp.calls[1].params.has("resource")).toBe(false);
  });

  test("another header receives the bare token", async () => {
    const headers = await provider().headersFor(apiWith({ tokenUrl: idp.url, header: "X-Backend-Token" }));
    expect(headers.set).toEqual({ "X-Backend-Token": "token-1" });
  });

  test("every route of an API shares the API's token; a route's own attachment has its own", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    await Promise.all([tokens.headersFor(orders), tokens.headersFor({ ...orders }), tokens.headersFor({ ...orders })]);
    expect(idp.calls).toHaveLength(1);
    expect((await tokens.headersFor({ ...orders, key: "route 7" })).set.Authorization).toBe("Bearer token-2");
    expect(idp.calls).toHaveLength(2);
  });

  test("the token is cached per API until expires_in minus the skew, then refreshed", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    idp.answer = (call) => ({ status: 200, body: JSON.stringify({ access_token: `token-${call}`, expires_in: 120 }) });
    expect((await tokens.headersFor(orders)).set.Authorization).toBe("Bearer token-1");
    clock += 89_000;
    expect((await tokens.headersFor(orders)).set.Authorization).toBe("Bearer token-1");
    expect(idp.calls).toHaveLength(1);
    clock += 2_000;
    expect((await tokens.headersFor(orders)).set.Authorization).toBe("Bearer token-2");
    expect(idp.calls).toHaveLength(2);

    await tokens.headersFor(apiWith({ tokenUrl: idp.url }, "https://billing.example/api"));
    expect(idp.calls).toHaveLength(3);
  });

  test("without expires_in a token is used for 60 seconds; a changed configuration fetches anew", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    idp.answer = (call) => ({ status: 200, body: JSON.stringify({ access_token: `token-${call}` }) });
    await tokens.headersFor(orders);
    clock += 59_000;
    await tokens.headersFor(orders);
    expect(idp.calls).toHaveLength(1);
    clock += 2_000;
    await tokens.headersFor(orders);
    expect(idp.calls).toHaveLength(2);

    const changed = { ...orders, config: { ...orders.config, scope: "more" } };
    expect((await tokens.headersFor(changed)).set.Authorization).toBe("Bearer token-3");
    expect(idp.calls).toHaveLength(3);
    expect((await tokens.headersFor(changed)).set.Authorization).toBe("Bearer token-3");
    expect(idp.calls).toHaveLength(3);
  });

  test("single flight: 50 concurrent callers at expiry cause exactly one token request", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    await tokens.headersFor(orders);
    clock += 3600_000;
    idp.delayMs = 100;
    const all = await Promise.all(Array.from({ length: 50 }, () => tokens.headersFor(orders)));
    expect(idp.calls).toHaveLength(2);
    expect(new Set(all.map((headers) => headers.set.Authorization))).toEqual(new Set(["Bearer token-2"]));
  });

  test("single flight also on failure: concurrent callers share one failed request, the next call tries again", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    idp.delayMs = 50;
    idp.answer = () => ({ status: 503, body: "{}" });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => tokens.headersFor(orders)));
    expect(results.every((result) => result.status === "rejected" && result.reason instanceof BadGateway)).toBe(true);
    expect(idp.calls).toHaveLength(1);
    idp.answer = (call) => ({ status: 200, body: JSON.stringify({ access_token: `token-${call}`, expires_in: 3600 }) });
    expect((await tokens.headersFor(orders)).set.Authorization).toBe("Bearer token-2");
  });

  test.each([
    ["a 500", { status: 500, body: JSON.stringify({ error: "server_error" }) }, "status 500 (server_error)"],
    ["an invalid_client 401", { status: 401, body: JSON.stringify({ error: "invalid_client" }) }, "status 401 (invalid_client)"],
    ["a body that is not JSON", { status: 200, body: "<html>maintenance</html>" }, "response is not a JSON object"],
    ["no access_token", { status: 200, body: JSON.stringify({ token_type: "Bearer" }) }, "response has no access_token"],
  ] as const)("%s from the identity provider is a 502 with a clear error, logged without the secret", async (_name, answer, detail) => {
    idp.answer = () => answer;
    const { error, logs } = await capturingLogs(() => provider().headersFor(apiWith({ tokenUrl: idp.url })));
    expect(error).toBeInstanceOf(BadGateway);
    expect(error).toMatchObject({ status: 502, code: "bad_gateway", reason: "outbound_token_failed", message: "could not obtain a token for the upstream from its identity provider" });
    expect(logs).toContain(detail);
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(encodeURIComponent(SECRET));
  });

  test("an unreachable identity provider is a 502", async () => {
    const url = idp.url;
    await idp.close();
    await expect(provider().headersFor(apiWith({ tokenUrl: url }))).rejects.toMatchObject({ status: 502, reason: "outbound_token_failed" });
  });

  test("an identity provider that never answers is a 502 within the timeout, not a hang", async () => {
    idp.answer = () => "hang";
    const started = Date.now();
    const { error, logs } = await capturingLogs(() => provider({ timeoutMs: 300 }).headersFor(apiWith({ tokenUrl: idp.url })));
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(BadGateway);
    expect(logs).toContain('"detail":"timeout"');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1300);
  });

  test("${NAME} references in the settings and the sealed secret are resolved from the environment", async () => {
    const base = idp.url.replace(/\/oauth2\/token$/, "");
    const env = { IDP_BASE: base, CLIENT_ID: "prod-client", CLIENT_SECRET: "prod-secret", SCOPE: "orders.read", AUDIENCE: "api://orders-prod" };
    const api = apiWith({
      tokenUrl: "${IDP_BASE}/oauth2/token",
      clientId: "${CLIENT_ID}",
      clientSecretSealed: seal("${CLIENT_SECRET}", KEK, "outbound-client-secret"),
      authMethod: "body",
      scope: "${SCOPE}",
      resource: "${AUDIENCE}",
    });
    await provider({ env }).headersFor(api);
    expect(Object.fromEntries(idp.calls[0].params)).toEqual({
      grant_type: "client_credentials",
      client_id: "prod-client",
      client_secret: "prod-secret",
      scope: "orders.read",
      resource: "api://orders-prod",
    });
  });

  test("an unset reference is a 502 for the caller and a log line naming the variable", async () => {
    const { error, logs } = await capturingLogs(() => provider({ env: {} }).headersFor(apiWith({ tokenUrl: "${IDP_BASE}/token" })));
    expect(error).toBeInstanceOf(BadGateway);
    expect(logs).toContain("IDP_BASE is not set");
    expect(idp.calls).toHaveLength(0);
  });

  test("a secret sealed under another key is a 502, logged without the sealed value", async () => {
    const { error, logs } = await capturingLogs(() =>
      provider().headersFor(apiWith({ tokenUrl: idp.url, clientSecretSealed: seal(SECRET, "another-key-".repeat(4), "outbound-client-secret") })),
    );
    expect(error).toBeInstanceOf(BadGateway);
    expect(logs).toContain("KEY_ENCRYPTION_SECRET differs");
  });

  test("the access token itself is never logged", async () => {
    const { logs } = await capturingLogs(() => provider().headersFor(apiWith({ tokenUrl: idp.url })));
    expect(logs).toContain("outbound token obtained");
    expect(logs).not.toContain("token-1");
  });

  test("forceRefresh fetches a new token", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    await tokens.headersFor(orders);
    expect((await tokens.headersFor(orders, { forceRefresh: true })).set.Authorization).toBe("Bearer token-2");
    expect(idp.calls).toHaveLength(2);
  });

  test("retryFor: concurrent retries after a rejected token share one refresh; the same token again means no retry", async () => {
    const tokens = provider();
    const orders = apiWith({ tokenUrl: idp.url });
    const used = await tokens.headersFor(orders);
    idp.delayMs = 50;
    const fresh = await Promise.all(Array.from({ length: 20 }, () => tokens.retryFor(orders, used)()));
    expect(new Set(fresh.map((headers) => headers?.Authorization))).toEqual(new Set(["Bearer token-2"]));
    expect(idp.calls).toHaveLength(2);
    // A late retry for the old token finds it already replaced.
    expect(await tokens.retryFor(orders, used)()).toEqual({ Authorization: "Bearer token-2" });
    expect(idp.calls).toHaveLength(2);

    idp.answer = () => ({ status: 200, body: JSON.stringify({ access_token: "token-2", expires_in: 3600 }) });
    expect(await tokens.retryFor(orders, { set: fresh[0]! })()).toBeUndefined();
    expect(idp.calls).toHaveLength(3);
  });
});
