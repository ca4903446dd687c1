// The authorization server's port holds clients to the same limits as the gateway's (shared/client-limits.ts),
// from its own settings: slow headers and slow bodies get 408 once HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS
// have passed (not 30-40 s later), idle connections close after IDLE_TIMEOUT_MS, and one address cannot
// hold more than MAX_CONNECTIONS_PER_ADDRESS connections: idle connections by the thousand used to
// exhaust the process's file descriptors and take both ports down.
import http from "node:http";
import { loadConfig } from "../../src/config/env.ts";
import { applyClientLimits, timeoutOptions } from "../../src/shared/client-limits.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { dribble, rawConnections, type Connection } from "../helpers/raw-connections.ts";

const LIMITS = {
  HEADERS_TIMEOUT_MS: "500",
  REQUEST_TIMEOUT_MS: "1000",
  IDLE_TIMEOUT_MS: "600",
  MAX_CONNECTIONS_PER_ADDRESS: "4",
  LOG_LEVEL: "info",
};


describe("authorization server client limits", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const connections = rawConnections();

  const connect = (port = gatehouse.port): Promise<Connection> => connections.connect(port);

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    gatehouse = await startGatehouse(db, LIMITS);
  });

  afterEach(() => {
    connections.destroyAll();
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("headers sent a byte at a time: 408 and closed once HEADERS_TIMEOUT_MS has passed", async () => {
    const { socket, received, closed } = await connect();
    socket.write(`GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n`);
    dribble(socket, "X-Slow: " + "a".repeat(100), 100);
    const after = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(2500);
  });

  test("a connection that sends nothing is closed within about HEADERS_TIMEOUT_MS", async () => {
    const { closed } = await connect();
    expect(await closed).toBeLessThan(2500);
  });

  test("a token request body sent a byte at a time: 408 once REQUEST_TIMEOUT_MS has passed", async () => {
    const { socket, received, closed } = await connect();
    const body = "grant_type=client_credentials&client_id=someone&client_secret=" + "s".repeat(60);
    socket.write(`POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`);
    dribble(socket, body, 100);
    const after = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(after).toBeGreaterThanOrEqual(950);
    expect(after).toBeLessThan(3000);
  });

  test("an idle keep-alive connection is closed after IDLE_TIMEOUT_MS", async () => {
    const { socket, received, closed } = await connect();
    socket.write("GET /jwks HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const sentAt = Date.now();
    while (!/\r\n\r\n[\s\S]*\}\s*$/.test(received())) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    await closed;
    const idle = Date.now() - sentAt;
    expect(idle).toBeGreaterThanOrEqual(500);
    expect(idle).toBeLessThan(2500);
  });

  test("one address may hold MAX_CONNECTIONS_PER_ADDRESS connections; the next gets 503 and is closed; a freed slot is usable again", async () => {
    const held: Connection[] = [];
    for (let i = 0; i < 4; i++) held.push(await connect());
    const extra = await connect();
    await extra.closed;
    expect(extra.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(extra.received()).toContain('"error":"temporarily_unavailable"');
    expect(extra.received()).toMatch(/\r\nretry-after: 1\r\n/i);
    for (const { socket } of held) expect(socket.destroyed).toBe(false);

    // The gateway's port counts its own connections: the authorization server's do not close it.
    const gateway = await fetch(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/nothing-here`);
    expect(gateway.status).toBe(404);

    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = await connect();
    again.socket.write("GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    await again.closed;
    expect(again.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(gatehouse.output()).toMatch(/"reason":"connection_limit"/);
  });
});

describe("client limit settings", () => {
  test("the authorization server's are settings of their own, with the gateway's defaults for headers and idle connections", () => {
    const config = loadConfig({}, { dotenv: false });
    expect(config).toMatchObject({ HEADERS_TIMEOUT_MS: 10_000, REQUEST_TIMEOUT_MS: 30_000, IDLE_TIMEOUT_MS: 65_000, MAX_CONNECTIONS_PER_ADDRESS: 256 });
    expect(loadConfig({ MAX_CONNECTIONS_PER_ADDRESS: "0" }, { dotenv: false }).MAX_CONNECTIONS_PER_ADDRESS).toBe(0);
  });

  test("headers that may take longer than the whole request are refused at start", () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: "40000" }, { dotenv: false })).toThrow(/HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/);
    expect(() => loadConfig({ MAX_CONNECTIONS_PER_ADDRESS: "-1" }, { dotenv: false })).toThrow(/MAX_CONNECTIONS_PER_ADDRESS/);
    const limits = { headersTimeoutMs: 2000, requestTimeoutMs: 1000, idleTimeoutMs: 1000, maxConnectionsPerAddress: 1 };
    expect(() => timeoutOptions(limits, { headersTimeout: "HEADERS_TIMEOUT_MS", requestTimeout: "REQUEST_TIMEOUT_MS" })).toThrow(/HEADERS_TIMEOUT_MS must not be greater than REQUEST_TIMEOUT_MS/);
  });

  test("Node checks the timeouts often enough for them to mean what they say; MAX_CONNECTIONS_PER_ADDRESS=0 counts nothing", () => {
    const options = timeoutOptions({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnectionsPerAddress: 256 }, { headersTimeout: "H", requestTimeout: "R" });
    expect(options).toEqual({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 });
    const server = http.createServer(options);
    const listeners = server.listenerCount("connection");
    applyClientLimits(server, { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 65_000, maxConnectionsPerAddress: 0 }, () => undefined);
    expect(server.keepAliveTimeout).toBe(65_000);
    // No limit: nothing counts connections.
    expect(server.listenerCount("connection")).toBe(listeners);
  });
});
