// What the upstream learns from the request's headers: forwarding headers built by the gateway alone
// (at the edge and behind trusted proxies), and every spelling of a header the gateway owns, strips or
// writes dropped (any case, and any punctuation for "-": "_" as CGI reads it, "." as PHP does):
// identity headers, method and path overrides, forwarding and certificate headers, hop-by-hop, the
// target's removals; and the headers the gateway reads pass under their own spelling only.
import { identityHeaders } from "../../../src/gateway/mutators/identity-headers.ts";
import { Forwarder, type ForwardTarget } from "../../../src/gateway/forward/forwarder.ts";
import type { GatewayContext } from "../../../src/gateway/pipeline.ts";
import { setLogLevel } from "../../../src/shared/logger.ts";
import { apiRecord } from "../../helpers/records.ts";
import { compiledRoute } from "../policies/compile.ts";
import { routeRecord } from "../rules/fixtures.ts";
import { send, startGateway, startUpstream, target, type TestGateway, type TestUpstream } from "./servers.ts";

/** Every character besides letters and digits that Node's parser accepts in a header name. */
const PUNCTUATION = [..."!#$%&'*+-.^_`|~"];

/** name under every spelling: each "-" replaced by each punctuation character, in three cases. */
function everySpelling(name: string): string[] {
  const spellings = new Set<string>();
  for (const sep of PUNCTUATION) {
    const spelled = name.replaceAll("-", sep);
    spellings.add(spelled).add(spelled.toLowerCase()).add(spelled.toUpperCase());
  }
  return [...spellings];
}

/** Headers the attack run found reaching the backend (besides the usual forwarding ones). */
const FOUND_PASSING = [
  "X-Client-Cert",
  "X-ARR-ClientCert",
  "SSL-Client-Cert",
  "X-SSL-Client-Cert",
  "Client-IP",
  "X-Scheme",
  "X-Original-URI",
  "X-Forwarded-Uri",
  "X-Forwarded-Path",
  "X-Forwarded-Method",
  "X-Forwarded-Port",
  "X-Forwarded-Prefix",
  "X-Forwarded-Ssl",
  "X-Forwarded-Server",
  "X-Original-Method",
  "X-Envoy-Original-Path",
  "X-Envoy-External-Address",
  "X-Original-For",
  "X-Original-Proto",
  "Proxy",
  "True-Client-IP",
  "CF-Connecting-IP",
  "Fastly-Client-IP",
  "X-Cluster-Client-IP",
  "X-ProxyUser-Ip",
  "X-Amzn-Mtls-Clientcert",
  "X-Forwarded-Tls-Client-Cert",
];

beforeAll(() => setLogLevel("silent"));
afterAll(() => setLogLevel("info"));

/** Every forwarding header a client may try, in its usual and its underscore spelling. */
const SPOOFED_FORWARDING: Record<string, string> = {
  "x-forwarded-for": "6.6.6.6",
  x_forwarded_for: "6.6.6.6",
  "X_Forwarded-For": "6.6.6.6",
  forwarded: "for=6.6.6.6;proto=https",
  "x-real-ip": "6.6.6.6",
  x_real_ip: "6.6.6.6",
  "x-client-ip": "6.6.6.6",
  "true-client-ip": "6.6.6.6",
  "cf-connecting-ip": "6.6.6.6",
  cf_connecting_ip: "6.6.6.6",
  "fastly-client-ip": "6.6.6.6",
  "x-cluster-client-ip": "6.6.6.6",
  "x-original-forwarded-for": "6.6.6.6",
  "x-forwarded-port": "443",
  "x-forwarded-prefix": "/admin",
  "x-forwarded-server": "evil",
  "x-forwarded-ssl": "on",
  "x-forwarded-scheme": "https",
  "x-url-scheme": "https",
  "front-end-https": "on",
  "x-forwarded-client-cert": "Hash=abc;Subject=\"CN=admin\"",
  "x-original-host": "admin.internal",
  "x-host": "admin.internal",
  x_forwarded_host: "admin.internal",
  x_forwarded_proto: "https",
  "x.forwarded.for": "6.6.6.6",
  "X.Real.IP": "6.6.6.6",
  "x.forwarded.host": "admin.internal",
  "X~Forwarded~Proto": "https",
  "Forwarded.For": "6.6.6.6",
  ...Object.fromEntries(FOUND_PASSING.flatMap((name) => [name, name.replaceAll("-", "_"), name.replaceAll("-", ".")].map((spelling) => [spelling, "6.6.6.6"]))),
};

/** The names the gateway writes itself; everything else of SPOOFED_FORWARDING must be gone. */
const WRITTEN = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"];

describe("forwarding headers", () => {
  let upstream: TestUpstream;
  const gateways: Array<{ gateway: TestGateway; forwarder: Forwarder }> = [];

  async function gatewayWith(trustedHops?: number): Promise<TestGateway> {
    const forwarder = new Forwarder(trustedHops === undefined ? {} : { trustedHops });
    const gateway = await startGateway(forwarder, (req) => target(upstream.origin, req.url!));
    gateways.push({ gateway, forwarder });
    return gateway;
  }

  async function seenBehind(trustedHops: number | undefined, headers: Record<string, string>) {
    await send((await gatewayWith(trustedHops)).port, { headers: { host: "api.example.test", ...headers } });
    return upstream.received.at(-1)!.headers;
  }

  beforeEach(async () => {
    upstream = await startUpstream();
  });

  afterEach(async () => {
    for (const { gateway, forwarder } of gateways.splice(0)) {
      await gateway.close();
      forwarder.close();
    }
    await upstream.close();
  });

  test("at the edge (no trusted hop) the client's forwarding headers, in every spelling, are replaced by the socket's truth", async () => {
    const seen = await seenBehind(undefined, { ...SPOOFED_FORWARDING, "x-forwarded-proto": "https", "x-forwarded-host": "spoofed.test" });
    expect(seen).toMatchObject({
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "api.example.test",
      "x-real-ip": "127.0.0.1",
      forwarded: "for=127.0.0.1;proto=http;host=api.example.test",
    });
    const others = Object.keys(SPOOFED_FORWARDING).map((name) => name.toLowerCase()).filter((name) => !WRITTEN.includes(name));
    for (const name of others) expect([name, seen[name]]).toEqual([name, undefined]);
    expect(JSON.stringify(seen)).not.toContain("6.6.6.6");
  });

  test("TRUST_PROXY hops 0 is the edge too", async () => {
    expect((await seenBehind(0, { "x-forwarded-for": "6.6.6.6" }))["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("behind one trusted proxy: its X-Forwarded-For entry is the client, entries left of it are dropped; its proto and host are kept", async () => {
    const seen = await seenBehind(1, {
      ...SPOOFED_FORWARDING,
      "x-forwarded-for": "6.6.6.6, 203.0.113.7",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "api.example.com",
    });
    expect(seen).toMatchObject({
      "x-forwarded-for": "203.0.113.7, 127.0.0.1",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "api.example.com",
      "x-real-ip": "203.0.113.7",
      forwarded: "for=203.0.113.7;proto=https;host=api.example.com, for=127.0.0.1",
    });
    for (const name of ["x_forwarded_for", "x-client-ip", "true-client-ip", "x-forwarded-port", "x-forwarded-prefix"]) expect(seen[name]).toBeUndefined();
  });

  test("behind two trusted proxies: the entry two from the right; fewer entries than hops: the first; IPv6 quoted in Forwarded", async () => {
    expect(await seenBehind(2, { "x-forwarded-for": "6.6.6.6, 198.51.100.1,10.0.0.2" })).toMatchObject({
      "x-forwarded-for": "198.51.100.1, 10.0.0.2, 127.0.0.1",
      "x-real-ip": "198.51.100.1",
      forwarded: "for=198.51.100.1;proto=http;host=api.example.test, for=10.0.0.2, for=127.0.0.1",
    });
    expect(await seenBehind(2, { "x-forwarded-for": "2001:db8::1" })).toMatchObject({
      "x-forwarded-for": "2001:db8::1, 127.0.0.1",
      "x-real-ip": "2001:db8::1",
      forwarded: 'for="[2001:db8::1]";proto=http;host=api.example.test, for=127.0.0.1',
    });
  });

  test("behind a trusted proxy that sent no X-Forwarded-For, the socket's peer is the client; no proto or host from it: the gateway's own", async () => {
    expect(await seenBehind(1, {})).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": "api.example.test" });
  });

  test("list-valued X-Forwarded-Host and X-Forwarded-Proto behind a trusted proxy: only the rightmost entry, the proxy's, counts", async () => {
    expect(await seenBehind(1, { "x-forwarded-host": "evil.test, api.example.com", "x-forwarded-proto": "http, https" })).toMatchObject({
      "x-forwarded-host": "api.example.com",
      "x-forwarded-proto": "https",
      forwarded: "for=127.0.0.1;proto=https;host=api.example.com",
    });
    expect(await seenBehind(2, { "x-forwarded-host": "evil.test,api.example.com:8443 ", "x-forwarded-proto": "https,http" })).toMatchObject({
      "x-forwarded-host": "api.example.com:8443",
      "x-forwarded-proto": "http",
    });
    // Two copies of the header (joined by Node), as a proxy that appends a header of its own leaves them.
    const seen = await seenBehind(1, { "x-forwarded-host": ["evil.test", "api.example.com"] as unknown as string, "x-forwarded-proto": ["http", "https"] as unknown as string });
    expect([seen["x-forwarded-host"], seen["x-forwarded-proto"]]).toEqual(["api.example.com", "https"]);
    expect(JSON.stringify(seen)).not.toContain("evil");
  });

  test("behind a trusted proxy, a last entry that is no host or no http/https scheme is not taken: the gateway's own", async () => {
    for (const host of ['api.example.com"; for=6.6.6.6', "a b", "evil.test, ", "user@host", "host/path"]) {
      const seen = await seenBehind(1, { "x-forwarded-host": host, "x-forwarded-proto": "javascript" });
      expect([host, seen["x-forwarded-host"], seen["x-forwarded-proto"]]).toEqual([host, "api.example.test", "http"]);
      expect(seen.forwarded).toBe("for=127.0.0.1;proto=http;host=api.example.test");
    }
    expect((await seenBehind(1, { "x-forwarded-host": "[2001:db8::1]:443" }))["x-forwarded-host"]).toBe("[2001:db8::1]:443");
    expect((await seenBehind(1, { "x-forwarded-proto": "HTTPS" }))["x-forwarded-proto"]).toBe("https");
  });

  test("at the edge, X-Forwarded-Host and -Proto are the client's and count for nothing, lists or not", async () => {
    expect(await seenBehind(0, { "x-forwarded-host": "evil.test, api.example.com", "x-forwarded-proto": "https" })).toMatchObject({ "x-forwarded-host": "api.example.test", "x-forwarded-proto": "http" });
  });

  test.each(FOUND_PASSING)("%s never passes, under any spelling, at the edge or behind a trusted proxy", async (name) => {
    const headers = Object.fromEntries(everySpelling(name).map((spelling) => [spelling, "6.6.6.6"]));
    for (const hops of [0, 1]) {
      const seen = await seenBehind(hops, headers);
      expect(Object.keys(seen).filter((key) => seen[key] === "6.6.6.6")).toEqual([]);
    }
  });
});

describe("header spellings", () => {
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;

  beforeEach(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder();
    gateway = await startGateway(forwarder, (req) =>
      target(upstream.origin, req.url!, { removeHeaders: new Set(["x-subscription-key", "x-gatehouse-subject"]), setHeaders: { "x-gatehouse-subject": "alice" } }),
    );
  });

  afterEach(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  test("method and path overrides never pass, in any case or with underscores", async () => {
    const overrides = {
      "X-HTTP-Method-Override": "DELETE",
      x_http_method_override: "DELETE",
      "X-HTTP-Method": "DELETE",
      X_HTTP_Method: "DELETE",
      "X-Method-Override": "DELETE",
      "x_method-override": "DELETE",
      "X-Original-URL": "/admin",
      "X-Rewrite-URL": "/admin",
      x_rewrite_url: "/admin",
    };
    await send(gateway.port, { headers: overrides });
    const seen = upstream.received[0]!.headers;
    for (const name of Object.keys(overrides)) expect([name, seen[name.toLowerCase()]]).toEqual([name, undefined]);
    expect(upstream.received[0]!.method).toBe("GET");
  });

  test.each(["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL", "X-Original-Method", "X-Forwarded-Method"])(
    "%s never passes under any spelling (PHP reads X.HTTP.Method.Override as HTTP_X_HTTP_METHOD_OVERRIDE)",
    async (name) => {
      await send(gateway.port, { headers: Object.fromEntries(everySpelling(name).map((spelling) => [spelling, "DELETE"])) });
      const seen = upstream.received[0]!.headers;
      expect(Object.keys(seen).filter((key) => seen[key] === "DELETE")).toEqual([]);
    },
  );

  test("Content-Type, Content-Length and Content-Encoding pass under their own spelling only: the backend reads what the gateway read", async () => {
    const body = "a=1";
    await send(gateway.port, {
      method: "POST",
      headers: {
        "content-type": "text/plain",
        "Content.Type": "application/x-www-form-urlencoded",
        Content_Type: "application/json",
        "Content~Type": "application/json",
        Content_Length: "999",
        "Content.Length": "999",
        "Content.Encoding": "gzip",
        content_encoding: "gzip",
      },
      body,
    });
    const seen = upstream.received[0]!.headers;
    expect(Object.keys(seen).filter((key) => key.startsWith("content"))).toEqual(expect.arrayContaining(["content-type", "content-length"]));
    expect(Object.keys(seen).filter((key) => /^content[^-]/.test(key))).toEqual([]);
    expect([seen["content-type"], seen["content-length"], seen["content-encoding"]]).toEqual(["text/plain", "3", undefined]);
    expect(upstream.received[0]!.body.toString()).toBe(body);
  });

  test("a header the target removes or sets is dropped under every spelling; hop-by-hop ones too; unrelated underscore headers pass", async () => {
    await send(gateway.port, {
      headers: {
        "X-Gatehouse-Subject": "admin",
        X_Gatehouse_Subject: "admin",
        x_gatehouse_subject: "admin",
        "X_Subscription-Key": "for-the-gateway",
        keep_alive: "timeout=5",
        proxy_authorization: "Basic eDp5",
        transfer_encoding: "chunked",
        x_custom_thing: "kept",
      },
    });
    const seen = upstream.received[0]!.headers;
    expect(seen["x-gatehouse-subject"]).toBe("alice");
    for (const name of ["x_gatehouse_subject", "x_subscription-key", "keep_alive", "proxy_authorization", "transfer_encoding"]) expect([name, seen[name]]).toEqual([name, undefined]);
    expect(seen.x_custom_thing).toBe("kept");
  });

  test("Connection-listed names are compared the same way", async () => {
    await send(gateway.port, { headers: { connection: "X_Hop", "x-hop": "1", x_hop: "1", "x.hop": "1" } });
    const seen = upstream.received[0]!.headers;
    expect(seen["x-hop"]).toBeUndefined();
    expect(seen.x_hop).toBeUndefined();
    expect(seen["x.hop"]).toBeUndefined();
  });
});

describe("identity headers under every spelling", () => {
  // The route's owned headers and the headers the pipeline would set, exactly as mutate() does: the
  // identity headers, then the claim_headers policy's.
  const api = apiRecord({ policies: { claim_headers: { claims: { email: "X-User-Email", tenant: "X-Tenant" } } } });
  const policies = compiledRoute(api, routeRecord({ id: "r" })).policies;
  const principal = { subject: "alice", clientId: "app", scopes: new Set(["read"]), issuer: "https://gatehouse.test", claims: { email: "alice@example.com", tenant: "t1" }, expiresAt: 0, token: "t" };
  const setHeaders = identityHeaders(principal);
  for (const handler of policies.mutate) void handler.mutate!({ principal } as unknown as GatewayContext, { setHeaders } as ForwardTarget);
  let upstream: TestUpstream;
  let forwarder: Forwarder;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder();
    gateway = await startGateway(forwarder, (req) => target(upstream.origin, req.url!, { removeHeaders: policies.ownedHeaders, setHeaders }));
  });

  afterAll(async () => {
    await gateway.close();
    forwarder.close();
    await upstream.close();
  });

  test.each(["X-Gatehouse-Subject", "X-Gatehouse-Scopes", "X-Gatehouse-Client-Id", "X-Gatehouse-Issuer", "X-Gatehouse-Token", "X-User-Email", "X-Tenant", "Authorization"])(
    "a client's %s never passes, under any spelling: the backend sees the gateway's alone",
    async (name) => {
      await send(gateway.port, { headers: Object.fromEntries(everySpelling(name).map((spelling) => [spelling, "forged"])) });
      const seen = upstream.received.at(-1)!.headers;
      expect(Object.keys(seen).filter((key) => seen[key] === "forged")).toEqual([]);
    },
  );

  test("the attack run's request: X.Gatehouse.Subject and X.Gatehouse.Scopes", async () => {
    await send(gateway.port, { headers: { "X.Gatehouse.Subject": "forged", "X.Gatehouse.Scopes": "admin", "X.Gatehouse.Client.Id": "forged", "X.Gatehouse.Issuer": "forged" } });
    const seen = upstream.received.at(-1)!.headers;
    expect(seen).toMatchObject({ "x-gatehouse-subject": "alice", "x-gatehouse-scopes": "read", "x-gatehouse-client-id": "app", "x-gatehouse-issuer": "https://gatehouse.test" });
    expect(Object.keys(seen).filter((key) => key.includes("."))).toEqual([]);
  });

  test("near misses are other headers, and pass", async () => {
    const near = { "X-Gatehouse-Subjects": "1", XGatehouse_Subject: "2", "X.Gatehouse.Subject2": "3", "X-Custom.Thing": "4", x_custom_thing: "5", "X-Gatehouse": "6" };
    await send(gateway.port, { headers: near });
    const seen = upstream.received.at(-1)!.headers;
    for (const [name, value] of Object.entries(near)) expect([name, seen[name.toLowerCase()]]).toEqual([name, value]);
  });
});
