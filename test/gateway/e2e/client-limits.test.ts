// A real Gatehouse with small client limits and one trusted proxy hop: slow headers and slow bodies
// get 408, idle keep-alive connections close, one address cannot hold more connections than allowed,
// and TRUST_PROXY's hop count reaches the forwarding headers. One backend suffices: none of this
// touches the database.
import { freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";
import { dribble, rawConnections, type Connection } from "../../helpers/raw-connections.ts";

const LIMITS = {
  GATEWAY_HEADERS_TIMEOUT_MS: "500",
  GATEWAY_REQUEST_TIMEOUT_MS: "1000",
  GATEWAY_IDLE_TIMEOUT_MS: "600",
  GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: "4",
  TRUST_PROXY: "1",
  LOG_LEVEL: "info",
};


describe("gateway client limits", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  const connections = rawConnections();

  const connect = (): Promise<Connection> => connections.connect(Number(gatehouse.env.GATEWAY_PORT));

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      await services.apis.apply({ identifier: "https://limits.example.com", name: "Limits", scopes: [] });
      await services.routes.apply("https://limits.example.com", { path_prefix: "/pub", upstream: upstream.url, public: true });
    });
    gatehouse = await startGatehouse(db, LIMITS);
  });

  afterEach(() => {
    connections.destroyAll();
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  test("headers sent a byte at a time: 408 and closed once GATEWAY_HEADERS_TIMEOUT_MS has passed", async () => {
    const { socket, received, closed } = await connect();
    socket.write("GET /pub/slow-headers HTTP/1.1\r\nHost: gateway\r\n");
    dribble(socket, "X-Slow: " + "a".repeat(100), 100);
    const after = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(2500);
  });

  test("a connection that sends nothing is closed too", async () => {
    const { closed } = await connect();
    expect(await closed).toBeLessThan(2500);
  });

  test("a body sent a byte at a time: 408 once GATEWAY_REQUEST_TIMEOUT_MS has passed, and the upstream never gets it whole", async () => {
    const { socket, received, closed } = await connect();
    socket.write("POST /pub/slow-body HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n");
    dribble(socket, "b".repeat(100), 100);
    const after = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(after).toBeGreaterThanOrEqual(950);
    expect(after).toBeLessThan(3000);
    expect(upstream.received.some((request) => request.url.includes("slow-body"))).toBe(false);
  });

  test("an idle keep-alive connection is closed after GATEWAY_IDLE_TIMEOUT_MS", async () => {
    const { socket, received, closed } = await connect();
    socket.write("GET /pub/idle HTTP/1.1\r\nHost: gateway\r\n\r\n");
    const answeredAt = Date.now();
    while (!received().includes("\r\n\r\n")) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    await closed;
    const idle = Date.now() - answeredAt;
    expect(idle).toBeGreaterThanOrEqual(500);
    expect(idle).toBeLessThan(2500);
  });

  test("one address may hold GATEWAY_MAX_CONNECTIONS_PER_ADDRESS connections; the next gets 503 and is closed; a freed slot is usable again", async () => {
    // Each held connection has a request in flight (the upstream answers "/slow" after 3 s), so the
    // headers and idle timeouts cannot close it while the test runs, however slow the machine.
    const held = [];
    for (let i = 0; i < 4; i++) {
      const connection = await connect();
      connection.socket.write(`GET /pub/slow-held-${i} HTTP/1.1\r\nHost: gateway\r\n\r\n`);
      held.push(connection);
    }
    while (upstream.received.filter((request) => request.url.includes("slow-held")).length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
    const extra = await connect();
    await extra.closed;
    expect(extra.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(extra.received()).toContain('"error":"temporarily_unavailable"');
    for (const { socket } of held) expect(socket.destroyed).toBe(false);

    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = await connect();
    again.socket.write("GET /pub/again HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n");
    await again.closed;
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(gatehouse.output()).toContain('"reason":"connection_limit"');
  });

  test("TRUST_PROXY=1: the client is the proxy's X-Forwarded-For entry; what the client wrote left of it is dropped", async () => {
    const response = await fetch(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/pub/hop`, {
      headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com", "x-real-ip": "6.6.6.6" },
    });
    expect(response.status).toBe(200);
    const seen = upstream.received.find((request) => request.url.includes("/hop"))!.headers;
    expect(seen).toMatchObject({
      "x-forwarded-for": "203.0.113.7, 127.0.0.1",
      "x-real-ip": "203.0.113.7",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "api.example.com",
      forwarded: "for=203.0.113.7;proto=https;host=api.example.com, for=127.0.0.1",
    });
  });
});
