// Header names as the gateway compares them: every spelling a backend may fold into the same variable
// (CGI's "-" → "_", PHP's "." and " " → "_") is one name, and every forwarding header is known under all
// of them; near misses stay distinct.
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { FORWARDING_HEADER_PREFIXES, FORWARDING_HEADERS, GATEWAY_READ_HEADERS, headerKey, isForwardingHeader } from "../../src/shared/header-names.ts";

/** The characters Node's parser accepts in a header name besides letters and digits (RFC 9110 tchar). */
const PUNCTUATION = "!#$%&'*+-.^_`|~";

/** A name with each "-" replaced by sep. */
const spelled = (name: string, sep: string) => name.replaceAll("-", sep);

describe("headerKey", () => {
  test("lower case; every token character other than a letter or a digit reads as '-'", () => {
    expect(headerKey("X-Gatehouse-Subject")).toBe("x-gatehouse-subject");
    for (const sep of PUNCTUATION) expect([sep, headerKey(`X${sep}Gatehouse${sep}Subject`)]).toEqual([sep, "x-gatehouse-subject"]);
    expect(headerKey("X.Gatehouse_Subject")).toBe("x-gatehouse-subject");
    expect(headerKey("x__y")).toBe("x--y");
    expect(headerKey("content-type")).toBe("content-type");
  });

  test("near misses stay distinct: no character is dropped, none added", () => {
    for (const name of ["XGatehouse-Subject", "X-GatehouseSubject", "X-Gatehouse-Subjects", "X--Gatehouse-Subject", "-X-Gatehouse-Subject"]) {
      expect([name, headerKey(name)]).not.toEqual([name, "x-gatehouse-subject"]);
    }
  });

  test("Node's parser accepts exactly letters, digits and the punctuation headerKey folds in a header name", async () => {
    // The premise of headerKey: no other character can reach the gateway in a name.
    const server = http.createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const status = (name: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${name}: v\r\nConnection: close\r\n\r\n`, "latin1")));
        let reply = "";
        socket.on("data", (data: Buffer) => (reply += data.toString("latin1")));
        socket.on("close", () => resolve(reply.slice(9, 12)));
        socket.on("error", () => resolve("error"));
      });
    try {
      const accepted: string[] = [];
      for (let code = 0; code < 256; code++) {
        if (code === 0x0a || code === 0x0d || code === 0x3a || /[A-Za-z0-9]/.test(String.fromCharCode(code))) continue;
        if ((await status(`X${String.fromCharCode(code)}Y`)) === "200") accepted.push(String.fromCharCode(code));
      }
      expect(accepted.join("")).toBe(PUNCTUATION);
      for (const name of ["X-Y ", " X-Y", "X[Y", "X Y"]) expect([name, await status(name)]).toEqual([name, "400"]);
    } finally {
      server.close();
    }
  });
});

describe("forwarding headers", () => {
  const EVERY = [
    // Each one the attack run found passing, and the usual ones.
    "X-Client-Cert",
    "X-ARR-ClientCert",
    "SSL-Client-Cert",
    "X-SSL-Client-Cert",
    "Client-IP",
    "X-Scheme",
    "X-Original-URI",
    "X-Original-URL",
    "X-Rewrite-URL",
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
    "X-Envoy-Internal",
    "X-Original-For",
    "X-Original-Proto",
    "Proxy",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Cluster-Client-IP",
    "X-ProxyUser-Ip",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "Forwarded",
    "X-Real-IP",
    "X-Forwarded-Client-Cert",
    "X-Amzn-Mtls-Clientcert-Leaf",
    "X-Client-Cert-Present",
    "X-SSL-Client-Verify",
    "SSL-Client-S-DN",
    "X-Forwarded-Tls-Client-Cert-Info",
  ];

  test.each(EVERY)("%s is one, under every spelling", (name) => {
    for (const sep of PUNCTUATION) {
      const spelling = spelled(name, sep);
      expect([spelling, isForwardingHeader(headerKey(spelling))]).toEqual([spelling, true]);
      expect([spelling.toUpperCase(), isForwardingHeader(headerKey(spelling.toUpperCase()))]).toEqual([spelling.toUpperCase(), true]);
    }
  });

  test("the lists are in headerKey form, without duplicates", () => {
    for (const name of [...FORWARDING_HEADERS, ...FORWARDING_HEADER_PREFIXES, ...GATEWAY_READ_HEADERS]) expect(headerKey(name)).toBe(name);
    expect(new Set(FORWARDING_HEADERS).size).toBe(FORWARDING_HEADERS.length);
  });

  test("ordinary headers are not", () => {
    for (const name of ["Accept", "Authorization", "X-Request-Id", "X-Client-Name", "X-Client-Version", "X-Forwarded", "Via", "X-Original", "X-Envoy", "Proxy-Status", "X-SSL"]) {
      // "X-Forwarded" is one (request-ip reads it); the others are not.
      expect([name, isForwardingHeader(headerKey(name))]).toEqual([name, name === "X-Forwarded"]);
    }
  });
});
