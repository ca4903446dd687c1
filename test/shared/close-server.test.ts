// A graceful stop ends as soon as the requests in flight are answered, even on kept-alive connections
// (Node's server.close() alone left such a connection open, taking new requests, until the hard limit).
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { closeGracefully } from "../../src/shared/close-server.ts";

function get(port: number, agent: http.Agent): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ port, host: "127.0.0.1", agent }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, connection: response.headers.connection, body }));
      })
      .on("error", reject);
  });
}

describe("closeGracefully", () => {
  test("a request in flight on a keep-alive connection is answered, and the stop ends then, long before the hard limit", async () => {
    const server = http.createServer((_request, response) => setTimeout(() => response.end("done"), 200));
    server.keepAliveTimeout = 65_000; // as Gatehouse's servers keep connections, longer than a balancer's
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true });
    // An idle kept-alive connection too: closed at once.
    await get(port, agent);
    const inFlight = get(port, agent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    let closed = false;
    const stopping = closeGracefully(server, { hardLimitMs: 60_000 }).then(() => (closed = true));
    expect(await inFlight).toMatchObject({ status: 200, body: "done" });
    await stopping;
    expect(closed).toBe(true);
    agent.destroy();
  }, 10_000);

  test("what is still open at the hard limit is cut", async () => {
    const server = http.createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true });
    const hanging = get(port, agent).then(
      () => "answered",
      (error: Error) => error.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await closeGracefully(server, { hardLimitMs: 300 });
    expect(await hanging).toMatch(/socket hang up|ECONNRESET/);
    agent.destroy();
  }, 10_000);

  test("an upgraded connection (a WebSocket tunnel), which the server does not track, is ended by atHardLimit and the stop completes", async () => {
    const tunnels = new Set<net.Socket>();
    const server = http.createServer((_request, response) => response.end("ok"));
    server.on("upgrade", (_request, socket: net.Socket) => {
      tunnels.add(socket);
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const client = net.connect(port, "127.0.0.1", () => client.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
    await new Promise((resolve) => client.once("data", resolve));
    const ended = new Promise((resolve) => client.once("close", resolve));
    await closeGracefully(server, { hardLimitMs: 300, atHardLimit: () => tunnels.forEach((socket) => socket.destroy()) });
    await ended;
  }, 10_000);
});
