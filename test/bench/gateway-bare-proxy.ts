// Target (b) of the gateway benchmark (gateway.ts): the least a Node.js reverse proxy can do with
// `http-proxy`, the library Gatehouse forwards with. One proxy server, one keep-alive agent, no
// checks, no header changes. Started as a child process with UPSTREAM=http://127.0.0.1:<port>; it
// listens on a free loopback port and prints "LISTENING <port>" once ready.
import http from "node:http";
import type { AddressInfo } from "node:net";
import httpProxy from "http-proxy";

const upstream = process.env.UPSTREAM;
if (!upstream) throw new Error("gateway-bare-proxy: UPSTREAM is not set");

const agent = new http.Agent({ keepAlive: true });
const proxy = httpProxy.createProxyServer({ target: upstream, agent });
proxy.on("error", (_error, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
});

process.on("SIGTERM", () => {
  server.closeAllConnections();
  agent.destroy();
  server.close(() => process.exit(0));
});
