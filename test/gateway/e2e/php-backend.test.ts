// The gateway in front of a real PHP backend (PHP's built-in server, `php -S`), the attack run's
// target: the pipeline's own stages (match, authenticate with a read-only token, authorize, mutate)
// and the Forwarder, and a backend that reports what PHP made of the request. Each attack is also
// sent straight to PHP, to show it works there: the gateway is what stops it.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Forwarder } from "../../../src/gateway/forward/forwarder.ts";
import { GatewayContext, createStages, gatewayRequest } from "../../../src/gateway/pipeline.ts";
import { errorResponse } from "../../../src/gateway/respond.ts";
import { RouteTable } from "../../../src/gateway/rules/route-table.ts";
import { InvalidToken } from "../../../src/gateway/errors.ts";
import type { Principal } from "../../../src/gateway/types.ts";
import { apiRecord } from "../../helpers/records.ts";
import { routeRecord } from "../rules/fixtures.ts";
import { compiledRoute } from "../policies/compile.ts";

const BACKEND = fileURLToPath(new URL("./php/backend.php", import.meta.url));
const READ_ONLY = "read-only-token";

interface Seen {
  method: string;
  effective_method: string;
  server: Record<string, string>;
  get: Record<string, unknown>;
  post: Record<string, unknown>;
}

interface Reply {
  status: number;
  body: string;
}

/** A port nothing listens on yet. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startPhp(): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const php = spawn("php", ["-S", `127.0.0.1:${port}`, BACKEND], { stdio: "ignore" });
  const failed = new Promise<never>((_resolve, reject) => php.once("error", (error) => reject(new Error(`php -S could not start (is PHP installed?): ${error.message}`))));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await Promise.race([
      failed,
      new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.destroy();
          resolve(true);
        });
        socket.on("error", () => resolve(false));
      }),
    ]);
    if (up) return { port, process: php };
    if (Date.now() > deadline) throw new Error("php -S did not start listening");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The gateway as app.ts runs it: one route /php to PHP, GET and POST needing "read", any other method (DELETE) "admin". */
async function startGateway(phpPort: number, trustedHops: number): Promise<{ port: number; close: () => Promise<void> }> {
  const api = apiRecord({ identifier: "https://php.example.test", policies: { claim_headers: { claims: { email: "X-User-Email" } } } });
  const route = routeRecord({
    id: "php",
    apiIdentifier: api.identifier,
    pathPrefix: "/php",
    upstream: `http://127.0.0.1:${phpPort}`,
    scopes: { GET: { allOf: ["read"], anyOf: [] }, POST: { allOf: ["read"], anyOf: [] }, "*": { allOf: ["admin"], anyOf: [] } },
  });
  const table = new RouteTable([compiledRoute(api, route)]);
  const principal: Principal = { subject: "reader", clientId: "reader-app", scopes: new Set(["read"]), issuer: "https://gatehouse.test", claims: { email: "reader@example.test" }, expiresAt: 0, token: READ_ONLY };
  const stages = createStages({
    routes: () => table,
    authenticate: async (token) => {
      if (token !== READ_ONLY) throw new InvalidToken("unknown token", "token_unknown");
      return principal;
    },
    cachedPrincipal: () => undefined,
  });
  const forwarder = new Forwarder({ trustedHops });
  const server = http.createServer(async (req, res) => {
    const gw = new GatewayContext();
    try {
      gw.request = gatewayRequest(req);
      await stages.decide(gw);
      await forwarder.web(req, res, gw.target!);
    } catch (error) {
      const response = errorResponse("gatehouse", error);
      res.writeHead(response.status, { ...response.headers, "content-type": "application/json" });
      res.end(JSON.stringify(response.body));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          forwarder.close();
          resolve();
        });
      }),
  };
}

/** One request; headers as a list of [name, value] so that several spellings of one name all go out. */
function request(port: number, options: { method?: string; path?: string; headers?: Array<[string, string]>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const given = options.headers ?? [];
    // With headers as a list, Node sends no Host of its own (and Node's server refuses a request without one).
    const headers = (given.some(([name]) => name.toLowerCase() === "host") ? given : [["Host", `127.0.0.1:${port}`], ...given]).flat();
    const req = http.request({ host: "127.0.0.1", port, method: options.method ?? "GET", path: options.path ?? "/php/", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const seen = (reply: Reply): Seen => {
  expect([reply.status, reply.status === 200 ? "" : reply.body]).toEqual([200, ""]);
  return JSON.parse(reply.body) as Seen;
};

/** Every character besides letters and digits Node accepts in a header name. */
const PUNCTUATION = [..."!#$%&'*+-.^_`|~"];

function everySpelling(name: string): string[] {
  return [...new Set(PUNCTUATION.flatMap((sep) => [name.replaceAll("-", sep), name.replaceAll("-", sep).toUpperCase()]))];
}

const AUTHORIZED: [string, string] = ["Authorization", `Bearer ${READ_ONLY}`];

let php: { port: number; process: ChildProcess };
let edge: Awaited<ReturnType<typeof startGateway>>;
let behindProxy: Awaited<ReturnType<typeof startGateway>>;

beforeAll(async () => {
  php = await startPhp();
  edge = await startGateway(php.port, 0);
  behindProxy = await startGateway(php.port, 1);
});

afterAll(async () => {
  await edge?.close();
  await behindProxy?.close();
  php?.process.kill();
});

describe("identity headers in front of PHP", () => {
  test("the attack run's request: X.Gatehouse.Subject and X.Gatehouse.Scopes are PHP's HTTP_X_GATEHOUSE_* straight, and gone through the gateway", async () => {
    const forged: Array<[string, string]> = [
      ["X.Gatehouse.Subject", "forged"],
      ["X.Gatehouse.Scopes", "admin"],
      ["X.Gatehouse.Client.Id", "forged"],
      ["X.Gatehouse.Issuer", "forged"],
      ["X.User.Email", "forged"],
    ];
    const direct = seen(await request(php.port, { path: "/", headers: forged }));
    expect(direct.server).toMatchObject({ HTTP_X_GATEHOUSE_SUBJECT: "forged", HTTP_X_GATEHOUSE_SCOPES: "admin" });

    const through = seen(await request(edge.port, { headers: [AUTHORIZED, ...forged] }));
    expect(through.server).toMatchObject({
      HTTP_X_GATEHOUSE_SUBJECT: "reader",
      HTTP_X_GATEHOUSE_SCOPES: "read",
      HTTP_X_GATEHOUSE_CLIENT_ID: "reader-app",
      HTTP_X_GATEHOUSE_ISSUER: "https://gatehouse.test",
      HTTP_X_USER_EMAIL: "reader@example.test",
    });
    expect(JSON.stringify(through.server)).not.toMatch(/forged|admin/);
  });

  test("every spelling of every identity header, on a request with and without a token: none reaches PHP", async () => {
    const names = ["X-Gatehouse-Subject", "X-Gatehouse-Scopes", "X-Gatehouse-Client-Id", "X-Gatehouse-Issuer", "X-Gatehouse-Token", "X-User-Email"];
    const forged = names.flatMap((name) => everySpelling(name).map((spelling): [string, string] => [spelling, "forged"]));
    expect(JSON.stringify(seen(await request(edge.port, { headers: [AUTHORIZED, ...forged] })).server)).not.toContain("forged");
    expect((await request(edge.port, { headers: forged })).status).toBe(401);
  });
});

describe("forwarding and certificate headers in front of PHP", () => {
  const HEADERS = [
    "X-Forwarded-For", "X-Real-IP", "Forwarded", "X-Client-Cert", "X-ARR-ClientCert", "SSL-Client-Cert", "X-SSL-Client-Cert", "Client-IP", "X-Scheme",
    "X-Original-URI", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri", "X-Forwarded-Path", "X-Forwarded-Method", "X-Forwarded-Port", "X-Forwarded-Prefix",
    "X-Forwarded-Ssl", "X-Forwarded-Server", "X-Original-Method", "X-Envoy-Original-Path", "X-Envoy-External-Address", "X-Original-For", "X-Original-Proto",
    "Proxy", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP", "X-Cluster-Client-IP", "X-ProxyUser-Ip", "X-Forwarded-Host", "X-Forwarded-Proto",
  ];

  test("straight to PHP, they arrive (and X-Forwarded-For, Client-IP, X-ARR-ClientCert, X-Original-URL are believed by PHP frameworks)", async () => {
    const forged = HEADERS.map((name): [string, string] => [name.replaceAll("-", "."), "6.6.6.6"]);
    const direct = seen(await request(php.port, { path: "/", headers: forged }));
    for (const name of ["HTTP_X_FORWARDED_FOR", "HTTP_X_SSL_CLIENT_CERT", "HTTP_X_ARR_CLIENTCERT", "HTTP_CLIENT_IP", "HTTP_X_ORIGINAL_URL"]) expect([name, direct.server[name]]).toEqual([name, "6.6.6.6"]);
  });

  test.each([0, 1])("every spelling of each (trusted hops %i): PHP sees only the gateway's own, and no HTTP_PROXY", async (hops) => {
    // Behind a trusted proxy, X-Forwarded-For/-Host/-Proto under their own spelling are the proxy's.
    const proxys = hops === 0 ? [] : ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];
    for (const name of HEADERS) {
      const forged = everySpelling(name).filter((spelling) => !proxys.includes(spelling.toLowerCase())).map((spelling): [string, string] => [spelling, "6.6.6.6"]);
      const through = seen(await request(hops === 0 ? edge.port : behindProxy.port, { headers: [AUTHORIZED, ["Host", "php.example.test"], ...forged] }));
      expect([name, JSON.stringify(through.server).includes("6.6.6.6")]).toEqual([name, false]);
      expect(through.server.HTTP_PROXY).toBeUndefined();
      expect(through.server).toMatchObject({ HTTP_X_FORWARDED_FOR: "127.0.0.1", HTTP_X_REAL_IP: "127.0.0.1", HTTP_X_FORWARDED_PROTO: "http", HTTP_X_FORWARDED_HOST: "php.example.test" });
    }
  });

  test("behind one trusted proxy, X-Forwarded-Host: evil, real → PHP sees only the proxy's entry, in X-Forwarded-Host and Forwarded", async () => {
    const through = seen(
      await request(behindProxy.port, { headers: [AUTHORIZED, ["X-Forwarded-Host", "evil.test, real.example.com"], ["X-Forwarded-Proto", "http, https"], ["X-Forwarded-For", "6.6.6.6, 203.0.113.9"]] }),
    );
    expect(through.server).toMatchObject({
      HTTP_X_FORWARDED_HOST: "real.example.com",
      HTTP_X_FORWARDED_PROTO: "https",
      HTTP_X_FORWARDED_FOR: "203.0.113.9, 127.0.0.1",
      HTTP_FORWARDED: "for=203.0.113.9;proto=https;host=real.example.com, for=127.0.0.1",
    });
    expect(JSON.stringify(through.server)).not.toMatch(/evil|6\.6\.6\.6/);
  });

  test("Content-Type under another spelling (PHP's HTTP_CONTENT_TYPE) does not pass: PHP reads the Content-Type the gateway read", async () => {
    const through = seen(await request(edge.port, { headers: [AUTHORIZED, ["Content.Type", "application/json"], ["Content_Length", "99"]] }));
    expect(through.server.HTTP_CONTENT_TYPE).toBeUndefined();
    expect(through.server.CONTENT_LENGTH).toBeUndefined();
  });
});

describe("method overrides in front of PHP", () => {
  const FORM = "application/x-www-form-urlencoded";
  const multipart = (name: string) => `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\nDELETE\r\n--b--\r\n`;

  /** The attack run's inputs and their relatives: each makes PHP run DELETE when sent to it straight. */
  const ATTACKS: Array<[string, { method?: string; path?: string; headers?: Array<[string, string]>; body?: string }]> = [
    ["query _method%00", { path: "/php/?_method%00=DELETE" }],
    ["query _method%00x", { path: "/php/?a=1&_method%00x=DELETE" }],
    ["query +_method (PHP drops leading spaces)", { path: "/php/?+_method=DELETE" }],
    ["query .method (PHP reads . as _)", { path: "/php/?%2Emethod=DELETE" }],
    ["form body _method%00", { method: "POST", headers: [["Content-Type", FORM]], body: "_method%00=DELETE" }],
    ["form body, Content-Type with a comma (the attack run's)", { method: "POST", headers: [["Content-Type", `${FORM}, text/plain`]], body: "_method%00=DELETE" }],
    ["form body, Content-Type with a space", { method: "POST", headers: [["Content-Type", `${FORM} text/plain`]], body: "_method=DELETE" }],
    ["form body, .method", { method: "POST", headers: [["Content-Type", FORM]], body: "a=1&.method=DELETE" }],
    ["multipart name _method\\0", { method: "POST", headers: [["Content-Type", "multipart/form-data; boundary=b"]], body: multipart("_method\0") }],
    ["multipart name _method\\0x", { method: "POST", headers: [["Content-Type", "multipart/form-data; boundary=b"]], body: multipart("_method\0x") }],
    ["JSON {\"_method\":\"DELETE\"} (Laravel)", { method: "POST", headers: [["Content-Type", "application/json"]], body: '{"_method":"DELETE"}' }],
    ["JSON with an escaped key", { method: "POST", headers: [["Content-Type", "application/vnd.api+json"]], body: '{"a": {"b": 1}, "\\u005fmethod":"DELETE"}' }],
    ["X.HTTP.Method.Override", { headers: [["X.HTTP.Method.Override", "DELETE"]] }],
    ["X_HTTP_Method", { headers: [["X_HTTP_Method", "DELETE"]] }],
    ["X.Method.Override", { headers: [["X.Method.Override", "DELETE"]] }],
  ];

  test.each(ATTACKS)("%s: PHP runs DELETE when sent it straight; through the gateway, with a read-only token, it is refused or stays what it is", async (_case, attack) => {
    const direct = seen(await request(php.port, { ...attack, path: (attack.path ?? "/php/").replace(/^\/php/, "") }));
    expect(direct.effective_method).toBe("DELETE");

    const reply = await request(edge.port, { ...attack, headers: [AUTHORIZED, ...(attack.headers ?? [])] });
    if ((attack.method ?? "GET") === "POST") {
      expect([reply.status, JSON.parse(reply.body)]).toEqual([400, { error: "invalid_request", error_description: expect.stringMatching(/^method overrides are not accepted/) }]);
    } else {
      expect(seen(reply).effective_method).toBe("GET");
    }
  });

  test("a DELETE itself needs admin: the read-only token gets 403", async () => {
    expect((await request(edge.port, { method: "DELETE", headers: [AUTHORIZED] })).status).toBe(403);
  });

  test("ordinary requests pass: a query, a form, JSON, multipart", async () => {
    expect(seen(await request(edge.port, { path: "/php/?a=1&method=x&_methods=y", headers: [AUTHORIZED] })).get).toEqual({ a: "1", method: "x", _methods: "y" });
    const form = seen(await request(edge.port, { method: "POST", headers: [AUTHORIZED, ["Content-Type", FORM]], body: "a=1&method=DELETE&x_method=2" }));
    expect([form.effective_method, form.post]).toEqual(["POST", { a: "1", method: "DELETE", x_method: "2" }]);
    const json = seen(await request(edge.port, { method: "POST", headers: [AUTHORIZED, ["Content-Type", "application/json"]], body: '{"a": {"_method": "DELETE"}, "b": "_method"}' }));
    expect(json.effective_method).toBe("POST");
    const parts = seen(await request(edge.port, { method: "POST", headers: [AUTHORIZED, ["Content-Type", "multipart/form-data; boundary=b"]], body: multipart("note") }));
    expect([parts.effective_method, parts.post]).toEqual(["POST", { note: "DELETE" }]);
  });
});
