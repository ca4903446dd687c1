// A `_method` field in a streamed form body (urlencoded, multipart, or a body without a Content-Type),
// or a top-level `_method` key in a JSON body, is refused with 400 before the upstream has the whole
// body; any other body streams through intact. Which bodies are forms is read as the laxest backend
// reads the Content-Type (PHP stops at ",", and at a space), and names as the laxest backend reads them
// (PHP cuts at a NUL, Rack 2 drops brackets, Tomcat decodes RFC 2047 words).
import http from "node:http";
import { InvalidRequest } from "../../../src/gateway/errors.ts";
import { formGuard } from "../../../src/gateway/forward/form-guard.ts";
import { Forwarder } from "../../../src/gateway/forward/forwarder.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { json, send, startGateway, startUpstream, target, type Reply, type TestGateway, type TestUpstream } from "./servers.ts";

beforeAll(() => setLogLevel("silent"));
afterAll(() => setLogLevel("info"));

const URLENCODED = "application/x-www-form-urlencoded";
const FORM_REFUSAL = "method overrides are not accepted: the form body has a _method field";
const JSON_REFUSAL = "method overrides are not accepted: the JSON body has a top-level _method key";
const BOUNDARY = "----gatehouse-test-boundary";
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** A multipart/form-data body with one part per header block given, each with the same small content. */
function multipart(...dispositions: string[]): string {
  return dispositions.map((disposition) => `--${BOUNDARY}\r\n${disposition}\r\n\r\nDELETE\r\n`).join("") + `--${BOUNDARY}--\r\n`;
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 2 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends body in the pieces given, 30 ms apart (chunked unless contentLength says otherwise). */
function sendInPieces(port: number, headers: http.OutgoingHttpHeaders, pieces: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/form", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    let next = 0;
    const write = () => {
      if (next === pieces.length) {
        req.end();
        return;
      }
      req.write(pieces[next++]);
      setTimeout(write, 30);
    };
    write();
  });
}

describe("form bodies with a method override", () => {
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;

  beforeEach(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder();
    gateway = await startGateway(forwarder, (req) => target(upstream.origin, req.url!));
  });

  afterEach(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  /** The refusal, and no upstream request that got its whole body. */
  async function expectRefused(reply: Reply, description = FORM_REFUSAL): Promise<void> {
    expect(reply.status).toBe(400);
    expect(json(reply)).toEqual({ error: "invalid_request", error_description: description });
    expect((gateway.settled.at(-1) as InvalidRequest).reason).toBe("method_override");
    await waitFor(() => upstream.received.every((request) => request.closed));
    expect(upstream.received.filter((request) => request.complete)).toEqual([]);
  }

  test.each([
    ["urlencoded", URLENCODED, "_method=DELETE"],
    ["urlencoded, after other fields", `${URLENCODED}; charset=utf-8`, "a=1&b=2&_method=DELETE"],
    ["urlencoded, percent-encoded name", URLENCODED, "a=1&%5Fmethod=DELETE"],
    ["urlencoded, upper case", "Application/X-WWW-Form-Urlencoded", "_METHOD=DELETE"],
    ["urlencoded, as PHP reads it", URLENCODED, "a=1&.method=DELETE"],
    ["urlencoded, the last field without a value", URLENCODED, "a=1&_method"],
    ["urlencoded, ; separator", URLENCODED, "a=1;_method=DELETE"],
    ["no Content-Type (Rack reads a POST without one as a form)", undefined, "_method=DELETE"],
    ["multipart, quoted name", MULTIPART, multipart('Content-Disposition: form-data; name="a"', 'Content-Disposition: form-data; name="_method"')],
    ["multipart, token name and header case", MULTIPART, multipart("content-disposition: form-data; NAME=_method")],
    ["multipart, single quotes (PHP)", MULTIPART, multipart("Content-Disposition: form-data; name='_method'")],
    ["multipart, RFC 8187 extended name", MULTIPART, multipart("Content-Disposition: form-data; name*=UTF-8''%5Fmethod")],
    ["multipart, folded header", MULTIPART, multipart('Content-Disposition: form-data;\r\n name="_method"')],
    ["multipart, name first (PHP)", MULTIPART, multipart('Content-Disposition: name="_method"')],
    ["multipart, a mismatched boundary parameter", `multipart/form-data; boundary="other"; boundary=${BOUNDARY}`, multipart('Content-Disposition: form-data; name="_method"')],
    ["multipart/mixed", `multipart/mixed; boundary=${BOUNDARY}`, multipart('Content-Disposition: form-data; name="_method"')],
    // Names the way PHP, Rack and Tomcat read them.
    ["urlencoded, NUL after the name (PHP cuts names at a NUL)", URLENCODED, "a=1&_method%00=DELETE"],
    ["urlencoded, NUL and more after the name", URLENCODED, "_method%00ignored=DELETE"],
    ["urlencoded, a raw NUL after the name", URLENCODED, "_method\0=DELETE"],
    ["urlencoded, in brackets (Rack 2)", URLENCODED, "a=1&%5B_method%5D=DELETE"],
    ["urlencoded, a trailing space", URLENCODED, "_method+=DELETE"],
    ["urlencoded, a trailing dot", URLENCODED, "_method.=DELETE"],
    ["urlencoded, an unclosed bracket", URLENCODED, "_method%5B=DELETE"],
    ["multipart, NUL after the name", MULTIPART, multipart('Content-Disposition: form-data; name="_method\0"')],
    ["multipart, NUL and more after the name", MULTIPART, multipart('Content-Disposition: form-data; name="_method\0x"')],
    ["multipart, an array name", MULTIPART, multipart('Content-Disposition: form-data; name="_method[]"')],
    ["multipart, RFC 2047 base64 name (Tomcat, Commons FileUpload)", MULTIPART, multipart('Content-Disposition: form-data; name="=?UTF-8?B?X21ldGhvZA==?="')],
    ["multipart, RFC 2047 Q name", MULTIPART, multipart('Content-Disposition: form-data; name="=?utf-8?q?=5Fmeth?= =?utf-8?q?od?="')],
    // Content-Types a lax backend reads as a form.
    ["the attack run's Content-Type (PHP stops at ',')", `${URLENCODED}, text/plain`, "_method%00=DELETE"],
    ["a form type before a space (PHP stops at ' ')", `${URLENCODED} text/plain`, "_method=DELETE"],
    ["a form type after another (read as either)", `text/plain, ${URLENCODED}`, "_method=DELETE"],
    ["a form type with a suffix (Symfony reads the start)", `${URLENCODED}x`, "_method=DELETE"],
    ["an empty media type before parameters", "; charset=utf-8", "_method=DELETE"],
    ["an empty media type before a comma", ", text/plain", "_method=DELETE"],
    ["multipart after a comma", `text/plain, multipart/form-data; boundary=${BOUNDARY}`, multipart('Content-Disposition: form-data; name="_method"')],
  ])("%s: 400 method_override with Content-Length", async (_case, contentType, body) => {
    await expectRefused(await send(gateway.port, { method: "POST", path: "/form", headers: contentType ? { "content-type": contentType } : {}, body }));
  });

  test.each([
    ["JSON", "application/json", '{"_method":"DELETE"}'],
    ["JSON, after other keys, nested objects and tricky strings", "application/json; charset=utf-8", '{ "a": {"_method": 1, "b": ["}", "\\\"", "{"]}, "c": "\\\\", "_method" : "DELETE" }'],
    ["JSON, an escaped key", "application/json", '{"\\u005fmethod":"DELETE"}'],
    ["JSON, an escaped key in upper case", "application/json", '{"\\u005F\\u004DETHOD":"DELETE"}'],
    ["JSON, a key with an escaped NUL", "application/json", '{"_method\\u0000":"DELETE"}'],
    ["JSON, +json (Laravel reads it as JSON)", "application/vnd.api+json", '{"_method":"DELETE"}'],
    ["JSON, text/json", "text/json", '{"_method":"DELETE"}'],
    ["JSON and a form type at once", `application/json, ${URLENCODED}`, '{"_method":"DELETE"}'],
    ["JSON, a BOM and whitespace first", "application/json", '\ufeff \n {"_method":"DELETE"}'],
  ])("%s: 400 method_override", async (_case, contentType, body) => {
    await expectRefused(await send(gateway.port, { method: "POST", path: "/form", headers: { "content-type": contentType }, body }), JSON_REFUSAL);
  });

  test("a JSON key split across chunks (chunked body)", async () => {
    await expectRefused(await sendInPieces(gateway.port, { "content-type": "application/json" }, ['{"a": "x", "_me', 'th', 'od": "DELETE"}']), JSON_REFUSAL);
    await expectRefused(await sendInPieces(gateway.port, { "content-type": "application/json" }, ['{"\\u00', '5fmethod": 1}']), JSON_REFUSAL);
  });

  test("the field name split across chunks (chunked body): the upstream has the first piece only", async () => {
    const reply = await sendInPieces(gateway.port, { "content-type": URLENCODED }, ["a=1&b=2&_me", "thod=DE", "LETE"]);
    await expectRefused(reply);
    expect(upstream.received[0]?.body.toString() ?? "").not.toContain("thod");
  });

  test("a multipart header split across chunks (Content-Length body)", async () => {
    const body = multipart('Content-Disposition: form-data; name="_method"');
    const at = body.indexOf("_met");
    await expectRefused(await sendInPieces(gateway.port, { "content-type": MULTIPART, "content-length": Buffer.byteLength(body) }, [body.slice(0, at), body.slice(at)]));
  });

  test("the override as the very last bytes: the upstream never gets the body's last byte", async () => {
    const reply = await sendInPieces(gateway.port, { "content-type": URLENCODED, "content-length": 11 }, ["a=1&_metho", "d"]);
    await expectRefused(reply);
    expect(upstream.received[0]?.body.toString() ?? "").toBe("a=1&_metho".slice(0, upstream.received[0]?.body.length));
  });

  test("a compressed form (Content-Encoding other than identity) is refused before the upstream is contacted (form_encoded)", async () => {
    for (const [contentType, encoding] of [[URLENCODED, "gzip"], [MULTIPART, "deflate"], [URLENCODED, " BR "], [`${URLENCODED}, text/plain`, "gzip"], [`text/plain ${MULTIPART}`, "gzip"]]) {
      const reply = await send(gateway.port, { method: "POST", path: "/form", headers: { "content-type": contentType!, "content-encoding": encoding! }, body: "\x1f\x8b compressed" });
      expect(reply.status).toBe(400);
      expect((gateway.settled.at(-1) as InvalidRequest).reason).toBe("form_encoded");
    }
    expect(upstream.received).toEqual([]);
  });

  test("an overlong part header is refused unread (form_header_too_long)", async () => {
    const body = multipart(`Content-Disposition: form-data; filename="${"x".repeat(20_000)}"; name="_method"`);
    const reply = await send(gateway.port, { method: "POST", path: "/form", headers: { "content-type": MULTIPART }, body });
    expect(reply.status).toBe(400);
    expect((gateway.settled.at(-1) as InvalidRequest).reason).toBe("form_header_too_long");
  });
});

describe("form bodies without one", () => {
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder();
    gateway = await startGateway(forwarder, (req) => target(upstream.origin, req.url!));
  });

  afterAll(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  test.each([
    ["urlencoded", { "content-type": URLENCODED }, "method=DELETE&x_method=1&_methods=2&a=_method&b=%26_method%3D"],
    ["multipart with other names and _method in the content", { "content-type": MULTIPART }, multipart('Content-Disposition: form-data; name="x_method"', 'Content-Disposition: form-data; name="file"; filename="_method"')],
    ["JSON with _method only nested, as a value, or in a string", { "content-type": "application/json" }, '{"a": {"_method": "DELETE"}, "b": "_method", "c": ["_method"], "d": "\\"_method\\": 1", "_methods": 1, "__method": 2}'],
    ["JSON whose top level is an array", { "content-type": "application/json" }, '[{"_method": "DELETE"}, "_method"]'],
    ["JSON with a key that only unescapes near _method", { "content-type": "application/json" }, '{"\\u005f_method": 1, "\\\\_method": 2, "_method\\u005f": 3}'],
    ["compressed JSON (the backends that read _method from JSON inflate nothing)", { "content-type": "application/json", "content-encoding": "gzip" }, '{"_method":"DELETE"}'],
    ["text/plain (no backend reads fields from it)", { "content-type": "text/plain" }, "_method=DELETE"],
    ["a near miss of the form type", { "content-type": "application/x-www-form-urlencode" }, "_method=DELETE"],
    ["urlencoded with names that only look like _method", { "content-type": URLENCODED }, "_method_=1&_method.x=2&_me%00thod=3&x%5B_method%5D=4&%00_method=5"],
    ["urlencoded with Content-Encoding identity", { "content-type": URLENCODED, "content-encoding": "identity" }, "a=1"],
    ["compressed without a Content-Type (nothing inflates and parses it as a form)", { "content-encoding": "gzip" }, "\x1f\x8b compressed"],
    ["a large urlencoded body", { "content-type": URLENCODED }, `a=${"x".repeat(300_000)}&b=${"y".repeat(300_000)}`],
  ])("%s: forwarded intact", async (_case, headers, body) => {
    const before = upstream.received.length;
    const reply = await send(gateway.port, { method: "POST", path: "/form", headers, body });
    expect(reply.status).toBe(200);
    expect(upstream.received[before]!.body.toString()).toBe(body);
    expect(upstream.received[before]!.complete).toBe(true);
  });

  test("chunked, cut in many pieces", async () => {
    const pieces = ["a=1&_", "metho", "ds=2&", "x=_method", "&y=3"];
    const reply = await sendInPieces(gateway.port, { "content-type": URLENCODED }, pieces);
    expect(reply.status).toBe(200);
    expect(upstream.received.at(-1)!.body.toString()).toBe(pieces.join(""));
  });
});

describe("formGuard, fed one byte at a time", () => {
  /** Whether the guard refuses body, given byte by byte. */
  async function refuses(contentType: string, body: string): Promise<boolean> {
    const guard = formGuard({ "content-type": contentType })!;
    const refused = new Promise<boolean>((resolve) => {
      guard.once("error", () => resolve(true));
      guard.once("end", () => resolve(false));
    });
    guard.resume();
    for (const byte of Buffer.from(body)) guard.write(Buffer.of(byte));
    guard.end();
    return refused;
  }

  test.each([
    ['Content-Disposition : form-data; name="_method"', true],
    ['Content-Disposition: form-data; name="a";\r\n\tname="_method"', true],
    ['Content-Disposition: form-data; name="a"\r\nX-Note: name="_method"', false],
    ['Content-Disposition: form-data; name="__method"', false],
  ])("multipart %j → refused: %s", async (disposition, expected) => {
    expect(await refuses(MULTIPART, multipart(disposition))).toBe(expected);
  });

  test("a line cut before its colon is not a Content-Disposition header", async () => {
    expect(await refuses(MULTIPART, `--${BOUNDARY}\r\ncontent\r\n-disposition: form-data; name="_method"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`)).toBe(false);
  });

  test("urlencoded", async () => {
    expect(await refuses(URLENCODED, "a=1&b=%5F&%5Fmethod=PUT")).toBe(true);
    expect(await refuses(URLENCODED, "a=1&b=_method")).toBe(false);
    expect(await refuses(URLENCODED, "a=1&_method%00=PUT")).toBe(true);
  });

  test("JSON", async () => {
    expect(await refuses("application/json", '{"a": [1, {"b": "}"}], "\\u005fmethod": "PUT"}')).toBe(true);
    expect(await refuses("application/json", '{"a": [1, {"_method": "}"}], "b": "_method"}')).toBe(false);
    expect(await refuses("application/json", '{"a": "\\"}", "_method": 1}')).toBe(true);
    expect(await refuses("application/json", '{"a": "\\\\", "_method": 1}')).toBe(true);
    expect(await refuses("application/json", '{"a": "\\\\\\"_method\\": 1"}')).toBe(false);
  });
});
