// The request target of every request to the authorization server is an absolute path (origin-form,
// RFC 9112 §3.2.1): an absolute-form target (GET http://evil.example/.well-known/openid-configuration)
// used to become Koa's URL and origin, so discovery, the logout form and every other URL named
// evil.example, with the correct Host and a cacheable answer. Every other form is refused too, with the
// right Host, before anything reads the URL; OPTIONS * is answered.
import net from "node:net";
import { requestTargetProblem } from "../../src/authorization-server/request-hygiene.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";

/** One raw HTTP/1.1 exchange on its own connection: everything the server sent until it closed. */
function exchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
    let data = "";
    socket.setTimeout(5000, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")));
    socket.on("close", () => resolve(data));
    socket.on("error", reject);
  });
}

const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

describe("request targets at the authorization server", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let host: string;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    gatehouse = await startGatehouse(db);
    host = new URL(gatehouse.issuer).host;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const request = (method: string, target: string, extra = "") =>
    exchange(gatehouse.port, `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`);

  test.each([
    ["GET", "http://evil.example/.well-known/openid-configuration"],
    ["GET", "HTTP://EVIL.EXAMPLE/.well-known/openid-configuration"],
    ["GET", "https://evil.example/.well-known/openid-configuration"],
    ["GET", "http://evil.example:3000/.well-known/openid-configuration"],
    ["GET", "http://user@evil.example/.well-known/openid-configuration"],
    ["HEAD", "http://evil.example/.well-known/openid-configuration"],
    ["GET", "http://evil.example/jwks"],
    ["GET", "http://evil.example/logout"],
    ["GET", "https://evil.example/authorize?client_id=x"],
    ["OPTIONS", "http://evil.example/token"],
    ["GET", "ws://evil.example/"],
    ["GET", "evil.example:443"],
    ["GET", "evil.example"],
    ["GET", "*"],
    ["POST", "*"],
    ["GET", "//evil.example/.well-known/openid-configuration"],
    ["GET", "/\\evil.example/.well-known/openid-configuration"],
    ["GET", "/.well-known\\..\\evil.example/openid-configuration"],
  ])("%s %s is refused with 400 and names no other host", async (method, target) => {
    const response = await request(method, target);
    expect(status(response)).toBe(400);
    expect(response.toLowerCase()).not.toContain("evil.example");
    expect(response).not.toMatch(/cache-control: public/i);
  });

  test("an absolute-form target naming the issuer itself is refused as well: only a path is a request target", async () => {
    const response = await request("GET", `${gatehouse.issuer}/.well-known/openid-configuration`);
    expect(status(response)).toBe(400);
    expect(response).toContain('"error":"invalid_request"');
    expect(response).toContain("absolute-form");
  });

  test("a POST with an absolute-form target and a body is refused before the body is looked at", async () => {
    const body = "grant_type=client_credentials&client_id=x&client_secret=y";
    const response = await request("POST", "http://evil.example/token", `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(status(response)).toBe(400);
    expect(response).not.toContain("evil.example");
  });

  test("CONNECT is never answered as a request for the server's own resources", async () => {
    const response = await exchange(gatehouse.port, `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n`);
    expect(status(response) === 0 || status(response) >= 400).toBe(true);
    expect(response).not.toContain("evil.example");
  });

  test("OPTIONS * is answered: 204 with the methods the server supports", async () => {
    const response = await request("OPTIONS", "*");
    expect(status(response)).toBe(204);
    expect(response).toMatch(/\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);
  });

  test("origin-form with the right Host: discovery and the logout page name only the issuer", async () => {
    const discovery = await request("GET", "/.well-known/openid-configuration");
    expect(status(discovery)).toBe(200);
    const metadata = JSON.parse(discovery.slice(discovery.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
    expect(metadata.issuer).toBe(gatehouse.issuer);
    expect(metadata.token_endpoint).toBe(`${gatehouse.issuer}/token`);
    const logout = await request("GET", "/logout");
    expect(status(logout)).toBe(200);
    expect(logout).toContain(`action="${gatehouse.issuer}/logout/confirm"`);
    expect(await request("GET", "/.well-known/openid-configuration?x=http://evil.example/")).toMatch(/^HTTP\/1\.1 200 /);
  });

  test("after a refusal the server answers the next request as usual", async () => {
    expect(status(await request("GET", "http://evil.example/.well-known/openid-configuration"))).toBe(400);
    const response = await fetch(`${gatehouse.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    expect(await response.text()).not.toContain("evil.example");
  });
});

describe("requestTargetProblem", () => {
  test.each([
    ["GET", "/", undefined],
    ["GET", "/authorize?redirect_uri=https://app.example/cb", undefined],
    ["GET", "/path?q=a\\b//c", undefined],
    ["OPTIONS", "*", undefined],
    ["GET", "*", "only for OPTIONS"],
    ["GET", "http://evil.example/", "absolute-form"],
    ["GET", "HTTPS://evil.example/", "absolute-form"],
    ["GET", "ftp://evil.example/x", "absolute-form"],
    ["GET", "evil.example:443", "origin-form"],
    ["GET", "", "origin-form"],
    ["GET", "?x=1", "origin-form"],
    ["GET", "//evil.example/", "must not start with //"],
    ["GET", "/\\evil.example/", "backslash"],
  ])("%s %j", (method, target, problem) => {
    const found = requestTargetProblem(method, target);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
