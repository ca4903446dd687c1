// The logger (shared/logger.ts, on pino): one JSON line per call, {"level","time","msg",...fields}; debug
// and info on stdout, warn and error on stderr (everything on stderr for the CLI); credentials redacted
// wherever they are; identical warnings within REPEAT_WINDOW_MS counted instead of written.
import { log, logToStderr, REDACTED, redactFields, securityEvent, setLogLevel, tokenHash, TOO_DEEP } from "../../src/shared/logger.ts";

/** Runs fn with stdout and stderr captured, line by line. */
function capture(fn: () => void): { stdout: string[]; stderr: string[] } {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  const writes = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((chunk: string) => (out.stdout.push(...String(chunk).split("\n").filter(Boolean)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (out.stderr.push(...String(chunk).split("\n").filter(Boolean)), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    [process.stdout.write, process.stderr.write] = writes;
  }
  return out;
}

beforeEach(() => setLogLevel("debug"));
afterAll(() => setLogLevel("warn"));

describe("lines", () => {
  test("one JSON object per line: level, time, msg, then the fields in order; info on stdout, warnings on stderr", () => {
    const { stdout, stderr } = capture(() => {
      log.info("authorization server listening", { port: 3000, storage: "sqlite" });
      log.debug("catalog loaded", { version: 3 });
      log.warn("database unreachable; retrying", { attempt: 1 });
      log.error("shutdown failed", { error: "boom" });
    });
    expect(stdout).toHaveLength(2);
    expect(stderr).toHaveLength(2);
    expect(stdout[0]).toMatch(/^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","msg":"authorization server listening","port":3000,"storage":"sqlite"\}$/);
    expect(JSON.parse(stdout[1]!)).toMatchObject({ level: "debug", msg: "catalog loaded", version: 3 });
    expect(JSON.parse(stderr[0]!)).toMatchObject({ level: "warn", msg: "database unreachable; retrying", attempt: 1 });
    expect(JSON.parse(stderr[1]!)).toMatchObject({ level: "error", msg: "shutdown failed", error: "boom" });
  });

  test("security events keep their shape, with a token's hash", () => {
    const { stdout } = capture(() => securityEvent("refresh_token_reuse", { client_id: "c1", grant: tokenHash("grant-id") }));
    expect(stdout[0]).toMatch(/"msg":"security event","event":"refresh_token_reuse","client_id":"c1","grant":"[A-Za-z0-9_-]{12}"\}$/);
  });

  test("LOG_LEVEL: lines below the level are not written", () => {
    setLogLevel("warn");
    const { stdout, stderr } = capture(() => {
      log.info("quiet");
      log.warn("loud", { n: 1 });
    });
    expect(stdout).toEqual([]);
    expect(stderr).toHaveLength(1);
  });

  test("identical warnings in a row are written once (the count follows when the window ends)", () => {
    const { stderr } = capture(() => {
      for (let i = 0; i < 5; i++) log.warn("upstream connection failed", { upstream: "http://127.0.0.1:9", code: "ECONNREFUSED", path: `/orders/${i}` });
      log.warn("upstream connection failed", { upstream: "http://127.0.0.1:9", code: "ETIMEDOUT" });
    });
    expect(stderr).toHaveLength(2);
  });
});

describe("redaction", () => {
  test("fields named like a credential are replaced, at any depth and in arrays", () => {
    const fields = {
      authorization: "Bearer abc.def.ghi",
      headers: { cookie: "session=s3cr3t", "set-cookie": ["a=b"], "x-api-key": "k", accept: "*/*" },
      body: [{ client_secret: "shh", password: "pw", assertion: "a", refresh_token: "r", client_id: "kept" }],
      clientSecret: "shh",
      access_token: "at",
      id_token: "it",
      code: "ECONNREFUSED",
      nothing: null,
    };
    expect(redactFields(fields)).toEqual({
      authorization: REDACTED,
      headers: { cookie: REDACTED, "set-cookie": REDACTED, "x-api-key": REDACTED, accept: "*/*" },
      body: [{ client_secret: REDACTED, password: REDACTED, assertion: REDACTED, refresh_token: REDACTED, client_id: "kept" }],
      clientSecret: REDACTED,
      access_token: REDACTED,
      id_token: REDACTED,
      code: "ECONNREFUSED",
      nothing: null,
    });
    // The caller's object is left alone.
    expect(fields.authorization).toBe("Bearer abc.def.ghi");
  });

  test("a token field keeps a tokenHash and nothing else", () => {
    const hash = tokenHash("the token");
    expect(redactFields({ token: hash, grant: tokenHash("g") })).toEqual({ token: hash, grant: tokenHash("g") });
    expect(redactFields({ token: "2YotnFZFEjr1zCsicMWpAA-opaque-token-value" })).toEqual({ token: REDACTED });
    expect(redactFields({ token: 42 })).toEqual({ token: REDACTED });
  });

  test("credentials inside text are replaced: Authorization values, JWTs, credential parameters, JSON members", () => {
    const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    const { error, path, stack } = redactFields({
      error: `upstream said 401 to Bearer 2YotnFZFEjr1zCsicMWpAA and Basic dXNlcjpwYXNz= then ${jwt}; body {"client_secret":"shh","ok":1}`,
      path: `/callback/${jwt}?access_token=abc123&state=xyz&client_secret=s%20s&password=hunter2`,
      stack: ["invalid basic authentication header", "DPoP abc-123.xyz"],
    }) as { error: string; path: string; stack: string[] };
    expect(error).toBe(`upstream said 401 to Bearer ${REDACTED} and Basic ${REDACTED} then ${REDACTED}; body {"client_secret":"${REDACTED}","ok":1}`);
    expect(path).toBe(`/callback/${REDACTED}?access_token=${REDACTED}&state=xyz&client_secret=${REDACTED}&password=${REDACTED}`);
    // Words that only look like a scheme stay.
    expect(stack).toEqual(["invalid basic authentication header", `DPoP ${REDACTED}`]);
  });

  test("an Error's message and stack are redacted", () => {
    const error = new Error("request to https://idp.example/token?client_secret=abc failed");
    const redacted = redactFields({ error }) as { error: { type: string; message: string; stack: string } };
    expect(redacted.error.type).toBe("Error");
    expect(redacted.error.message).toBe(`request to https://idp.example/token?client_secret=${REDACTED} failed`);
    expect(redacted.error.stack).not.toContain("client_secret=abc");
  });

  test("the lines written are redacted, with nothing else changed", () => {
    const { stdout } = capture(() => log.info("outbound token obtained", { api: "https://billing.example.com", authorization: "Bearer secret-value-1", detail: "token=secret-value-2" }));
    expect(stdout[0]).not.toContain("secret-value");
    expect(JSON.parse(stdout[0]!)).toMatchObject({ msg: "outbound token obtained", api: "https://billing.example.com", authorization: REDACTED, detail: `token=${REDACTED}` });
  });

  test("fields nested at any depth are redacted; a subtree too deep is replaced, a cycle cut", () => {
    const deep = { a: { b: { c: { d: { e: { f: { password: "hunter2", kept: 1 } } } } } } };
    expect(redactFields(deep)).toEqual({ a: { b: { c: { d: { e: { f: { password: REDACTED, kept: 1 } } } } } } });
    expect(JSON.stringify(redactFields({ list: [[[[[["Bearer 2YotnFZFEjr1zCsicMWpAA"]]]]]] }))).not.toContain("2YotnFZ");
    let chain: Record<string, unknown> = { client_secret: "shh" };
    for (let i = 0; i < 200; i++) chain = { next: chain };
    const redacted = JSON.stringify(redactFields(chain));
    expect(redacted).not.toContain("shh");
    expect(redacted).toContain(TOO_DEEP);
    const cyclic: Record<string, unknown> = { headers: { authorization: "Basic abc" } };
    cyclic.self = cyclic;
    const cut = redactFields(cyclic) as { headers: unknown; self: unknown };
    expect(cut.headers).toEqual({ authorization: REDACTED });
    expect(cut.self).toBe("[Circular]");
  });

  test("field names compare case-insensitively, - and _ alike", () => {
    expect(redactFields({ Password: "p", "X-Api-Key": "k", "client-secret": "s", CLIENT_SECRET: "s", "Refresh-Token": "r", Token: tokenHash("t") }))
      .toEqual({ Password: REDACTED, "X-Api-Key": REDACTED, "client-secret": REDACTED, CLIENT_SECRET: REDACTED, "Refresh-Token": REDACTED, Token: tokenHash("t") });
  });

  test("Authorization values with letters and digits only, URL-encoded, and prose that only looks like one", () => {
    const { a, b, c, d } = redactFields({
      a: "Authorization: Basic dXNlcjpwYXNz",
      b: "GET /cb?h=Authorization%3A%20Bearer%202YotnFZFEjr1zCsicMWpAA",
      c: "invalid basic authentication header; Bearer token required; Bearer tokens expected",
      d: "Bearer abcdefgh",
    }) as Record<string, string>;
    expect(a).toBe(`Authorization: Basic ${REDACTED}`);
    expect(b).toBe(`GET /cb?h=Authorization%3A%20Bearer%20${REDACTED}`);
    expect(c).toBe("invalid basic authentication header; Bearer token required; Bearer tokens expected");
    expect(d).toBe(`Bearer ${REDACTED}`);
  });

  test("JSON members named like any credential field, with escaped quotes, and URL-encoded parameters", () => {
    const { a, b, c, d, e } = redactFields({
      a: `{"new_password":"hunter2","current_password":"old","name":"x"}`,
      b: String.raw`{"refresh_token":"x\"y","ok":true}`,
      c: `{"Password" : "p", "x-api-key":"k", "clientSecret":"s"}`,
      d: "redirect=https%3A%2F%2Fa.example%2Fcb%3Fclient_secret%3Dshh%26state%3Dxyz",
      e: `truncated {"password":"abc\\"def`,
    }) as Record<string, string>;
    expect(a).toBe(`{"new_password":"${REDACTED}","current_password":"${REDACTED}","name":"x"}`);
    expect(b).toBe(`{"refresh_token":"${REDACTED}","ok":true}`);
    expect(c).toBe(`{"Password":"${REDACTED}", "x-api-key":"${REDACTED}", "clientSecret":"${REDACTED}"}`);
    expect(d).toBe(`redirect=https%3A%2F%2Fa.example%2Fcb%3Fclient_secret%3D${REDACTED}%26state%3Dxyz`);
    expect(e).toBe(`truncated {"password":"${REDACTED}"`);
  });

  test("plain fields cost no copy", () => {
    const fields = { request_id: "0b8a3c7e", method: "GET", path: "/orders/42", status: 200, api: "https://orders.example.com" };
    expect(redactFields(fields)).toBe(fields);
    const nested = { request: { headers: { accept: "*/*", "user-agent": "curl/8" }, query: { page: "2" } }, error: "Basic authentication failed" };
    expect(redactFields(nested)).toBe(nested);
  });
});

describe("the CLI", () => {
  test("logToStderr sends every line to stderr (stdout carries only the command's result)", () => {
    logToStderr();
    const { stdout, stderr } = capture(() => {
      log.info("generated signing keys");
      log.debug("catalog loaded");
    });
    expect(stdout).toEqual([]);
    expect(stderr).toHaveLength(2);
  });
});
