// Readiness while PostgreSQL stops answering, the three ways a network fails (a relay that refuses, one
// that holds bytes, one that drops them): /readyz answers 503 naming the database within a bound, while
// /healthz stays 200 (the process is fine: it must not be restarted for the database's sake), the log
// says so without a line per probe, and /readyz is 200 again by itself once the database answers.
import http from "node:http";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { tcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

const READINESS_TIMEOUT_MS = 500;
/** The bound a probe is held to: the readiness timeout and slack for a loaded CI machine. */
const BOUND_MS = READINESS_TIMEOUT_MS + 1500;

describe.each(["cut", "hold", "drop"] as const)("readiness with PostgreSQL behind a relay that starts to %s", (failure) => {
  let db: FreshDatabase;
  let proxy: TcpProxy;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    proxy = await tcpProxy(5432);
    const url = new URL(db.url);
    url.port = String(proxy.port);
    gatehouse = await startGatehouse(db, {
      DATABASE_URL: url.href,
      DB_QUERY_TIMEOUT_MS: "2000",
      DB_CONNECT_TIMEOUT_MS: "1000",
      READINESS_TIMEOUT_MS: String(READINESS_TIMEOUT_MS),
      LOG_LEVEL: "info",
    });
  });

  afterAll(async () => {
    proxy?.restore();
    await gatehouse?.stop();
    await proxy?.close();
    await db?.drop();
  });

  /** One probe on a new connection, as a load balancer or the kubelet makes it. */
  function probe(path: "/readyz" | "/healthz"): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const request = http.get(`${gatehouse.issuer}${path}`, { agent: false, timeout: 30_000 }, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, body: JSON.parse(text) as Record<string, unknown>, ms: performance.now() - started }));
      });
      request.on("timeout", () => request.destroy(new Error("probe timed out")));
      // A refused connection means the process is gone: say why, with what it printed.
      request.on("error", (error) => reject(new Error(`${path}: ${error.message}\n${gatehouse.output().slice(-4000)}`)));
    });
  }

  test(`/readyz is 503 naming the database within ${BOUND_MS} ms, /healthz stays 200, and readiness comes back by itself`, async () => {
    expect(await probe("/readyz")).toMatchObject({ status: 200, body: { status: "ready" } });
    const linesBefore = gatehouse.output().split("\n").length;
    proxy[failure]();

    const probes = [];
    for (let i = 0; i < 6; i++) probes.push(await probe("/readyz"));
    for (const answer of probes) {
      expect(answer).toMatchObject({
        status: 503,
        body: { status: "not_ready", checks: { database: expect.stringMatching(/^(failed|timeout)$/), configuration: "ok", signing_keys: "ok" } },
      });
      expect(answer.ms).toBeLessThan(BOUND_MS);
    }
    process.stdout.write(`${failure}: slowest /readyz 503 after ${Math.round(Math.max(...probes.map((a) => a.ms)))} ms\n`);
    const live = await probe("/healthz");
    expect(live).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(live.ms).toBeLessThan(BOUND_MS);

    proxy.restore();
    let ready = false;
    for (let i = 0; i < 150 && !ready; i++) {
      if ((await probe("/readyz")).status === 200) ready = true;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready).toBe(true);

    // Six failing probes are one "not ready" line (repeats are counted, not written), then "ready again".
    const lines = gatehouse.output().split("\n").slice(linesBefore);
    expect(lines.filter((line) => line.includes('"msg":"not ready"')).length).toBeLessThanOrEqual(2);
    expect(lines.some((line) => line.includes('"msg":"ready again"'))).toBe(true);
  });
});
