// The upstream of the gateway benchmark (gateway.ts): a tiny node:http server that answers every
// request with the same 20-byte body, over keep-alive connections. Started as a child process so it
// never shares an event loop with the load generator or a proxy; it listens on a free loopback port
// and prints "LISTENING <port>" once ready.
import http from "node:http";
import type { AddressInfo } from "node:net";

export const UPSTREAM_BODY = "hello from upstream\n"; // 20 bytes

const body = Buffer.from(UPSTREAM_BODY);
const headers = { "content-type": "text/plain", "content-length": String(body.length) };

const server = http.createServer((req, res) => {
  // The request has no body in this benchmark; resume() anyway so a stray one cannot stall the socket.
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;

if (process.argv[1] === import.meta.filename) {
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
  });
  process.on("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
