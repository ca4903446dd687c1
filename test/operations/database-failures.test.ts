// What an instance does when PostgreSQL stops answering, the three ways a network fails (a relay that
// refuses, one that holds bytes, one that drops them): every request that needs the database gets 503
// temporarily_unavailable within a bound, nothing committed is lost, the log says so without flooding,
// and the instance recovers by itself — configuration changes made after the outage arrive again.
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { tcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

const OPAQUE = "https://opaque.example.com";
const QUERY_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 1000;
/** The bound a test holds the server to: the query timeout, a connect timeout, and slack for a loaded CI machine. */
const BOUND_MS = QUERY_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 1500;

describe.each(["cut", "hold", "drop"] as const)("PostgreSQL behind a relay that starts to %s", (failure) => {
  let db: FreshDatabase;
  let proxy: TcpProxy;
  let gatehouse: RunningGatehouse;
  let client: { id: string; secret: string };
  let stored: string;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    proxy = await tcpProxy(5432);
    client = await withServices(db, async (services) => {
      await services.apis.apply({ identifier: OPAQUE, name: "Opaque", token_format: "opaque", scopes: ["orders:read"] });
      const { client: created, client_secret: clientSecret } = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { id: created.client_id, secret: clientSecret! };
    });
    const url = new URL(db.url);
    url.port = String(proxy.port);
    gatehouse = await startGatehouse(db, {
      DATABASE_URL: url.href,
      DB_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
      DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      LOG_LEVEL: "info",
    });
    stored = await token();
  });

  afterAll(async () => {
    proxy?.restore();
    await gatehouse?.stop();
    await proxy?.close();
    await db?.drop();
  });

  const basic = () => `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`;

  /** An opaque client-credentials token: issuing it writes to the database. */
  async function token(): Promise<string> {
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: OPAQUE }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  /** Introspection of an opaque token reads the database. */
  function introspect(value: string) {
    return fetch(`${gatehouse.issuer}/introspect`, {
      method: "POST",
      headers: { authorization: basic(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: value }),
      signal: AbortSignal.timeout(30_000),
    });
  }

  test(`every request that needs the database gets 503 within ${BOUND_MS} ms, and the instance recovers by itself`, async () => {
    expect((await introspect(stored)).status).toBe(200);
    const linesBefore = gatehouse.output().split("\n").length;
    proxy[failure]();

    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const response = await introspect(stored);
        return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json(), ms: performance.now() - started };
      }),
    );
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 503, retryAfter: "5", body: { error: "temporarily_unavailable" } });
      expect(answer.ms).toBeLessThan(BOUND_MS);
    }
    // Bounds seen, for the record (npm test -- test/operations/database-failures.test.ts).
    process.stdout.write(`${failure}: slowest 503 after ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms\n`);

    proxy.restore();
    let recovered = 0;
    for (let i = 0; i < 100 && recovered === 0; i++) {
      if ((await introspect(stored)).status === 200) recovered = performance.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(recovered).toBeGreaterThan(0);
    // The committed token survived, and changes keep arriving: a client created now is usable.
    expect(await (await introspect(stored)).json()).toMatchObject({ active: true });
    const fresh = await withServices(db, async (services) => {
      const { client: created, client_secret: clientSecret } = await services.clients.create({ client_name: "after", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { id: created.client_id, secret: clientSecret! };
    });
    const issued = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${fresh.id}:${fresh.secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: OPAQUE }),
    });
    expect(issued.status).toBe(200);

    // Twelve failing requests, and the poll failing every 100 ms, are a handful of log lines, not hundreds.
    const outageLines = gatehouse.output().split("\n").slice(linesBefore).filter((line) => /"level":"(warn|error)"/.test(line));
    expect(outageLines.length).toBeLessThan(12);
    expect(gatehouse.output()).not.toMatch(/\n\s+at .*\.(js|ts):\d+/);
  });
});
