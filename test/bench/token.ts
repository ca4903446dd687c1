// `npm run bench:token`: client_credentials token requests per second on loopback. Gatehouse as the
// quick start runs it (JWT access tokens, argon2id-hashed client secret, SQLite in a fresh data dir)
// next to a bare oidc-provider (bare-provider.ts: in-memory adapter, plaintext secret, the same ES256
// JWTs), both as child processes measured in the same run with the same load. The load generator
// (autocannon) runs in this process; rounds alternate the order (AB, BA, ...) so drift hits both alike.
// Prints tokens/s, latency and CPU per measurement, the ratio gatehouse/bare and the goals.
//
//   --connections N   concurrent keep-alive connections (32)
//   --duration S      seconds per measurement (5)
//   --rounds N        measurements of each server (4)
//   --warmup S        seconds of load on each server before measuring (10: both keep speeding up for a while)
//   --profile DIR     run both servers under --cpu-prof; profiles land in DIR/gatehouse and DIR/bare
//   --queries         count the SQL statements Gatehouse runs during each measurement (count-queries.ts;
//                     SQLite, the quick start's storage, only)
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { createServices } from "../../src/services/index.ts";
import { openStorage } from "../../src/storage/index.ts";
import { freePort, NODE } from "../helpers/gatehouse.ts";

const GOAL_TOKENS_PER_SECOND = 2000;
const GOAL_RATIO = 0.8;
const API = "https://orders.example.com";
const SCOPE = "orders:read";
const ACCESS_TOKEN_TTL = 600;
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, for /proc/<pid>/stat

const { values: options } = parseArgs({
  options: {
    connections: { type: "string", default: "32" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "4" },
    warmup: { type: "string", default: "10" },
    profile: { type: "string" },
    queries: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
  },
});

function positiveInteger(name: keyof typeof options): number {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}
const connections = positiveInteger("connections");
const duration = positiveInteger("duration");
const rounds = positiveInteger("rounds");
const warmup = positiveInteger("warmup");
const workers = positiveInteger("workers");
const profileDir = options.profile ? path.resolve(options.profile) : undefined;

type QueryCounts = Record<string, number>;

interface Server {
  name: string;
  issuer: string;
  child: ChildProcess;
  output(): string;
  /** Running totals of SQL statements (only with --queries). */
  queryCounts(): Promise<QueryCounts>;
}

interface Measurement {
  server: string;
  tokensPerSecond: number;
  p50: number;
  p99: number;
  tokens: number;
  failures: number;
  seconds: number;
  serverCores: number;
  loadCores: number;
  /** CPU used by everything else on the machine meanwhile (other work disturbs the measurement). */
  otherCores: number;
  queries?: QueryCounts;
}

const servers: Server[] = [];
const children: ChildProcess[] = [];
/** Tokens each server issued under load, warm-up included: the denominator for its CPU profile. */
const served = new Map<string, number>();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-bench-"));

/** CPU seconds all processes on the machine have used so far (everything but idle and iowait). */
function machineCpuSeconds(): number {
  const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND;
}

function statFields(pid: number | string): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds a live process and its live children (Gatehouse's WORKERS) have used so far (user + system). */
function cpuSeconds(pid: number): number {
  const children = fs.readdirSync("/proc").filter((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    try {
      return Number(statFields(entry)[1]) === pid;
    } catch {
      return false;
    }
  });
  return [pid, ...children.map(Number)].reduce((total, id) => {
    const fields = statFields(id);
    return total + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  }, 0);
}

async function waitUntilReady(name: string, issuer: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${issuer}/.well-known/openid-configuration`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not start:\n${output()}`);
}

async function startServer(name: string, args: string[], env: Record<string, string>, issuer: string): Promise<Server> {
  const child = spawn(NODE, args, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let log = "";
  const countWaiters: Array<(counts: QueryCounts) => void> = [];
  let partial = "";
  child.stdout!.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  child.stderr!.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("BENCH_QUERY_COUNTS ")) countWaiters.shift()?.(JSON.parse(line.slice("BENCH_QUERY_COUNTS ".length)) as QueryCounts);
      else log = (log + line + "\n").slice(-20_000);
    }
  });
  const output = () => log;
  await waitUntilReady(name, issuer, child, output);
  const server: Server = {
    name,
    issuer,
    child,
    output,
    queryCounts: () =>
      new Promise((resolve) => {
        countWaiters.push(resolve);
        child.kill("SIGUSR2");
      }),
  };
  servers.push(server);
  return server;
}

async function cleanUp(): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          // A profiled process needs a moment to write its profile on exit.
          const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
          child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function nodeArgs(name: string, script: string, extra: string[] = []): string[] {
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(profileDir, name)] : [];
  return [...profile, ...extra, script];
}

async function seedGatehouse(url: string, keyEncryptionSecret: string): Promise<{ clientId: string; clientSecret: string }> {
  const storage = await openStorage(url);
  try {
    const services = createServices(storage, { keyEncryptionSecret });
    await services.scopes.apply({ name: SCOPE, description: "Read your orders" });
    await services.apis.apply({ identifier: API, name: "Orders", scopes: [SCOPE], access_token_ttl: ACCESS_TOKEN_TTL });
    const { client, client_secret: clientSecret } = await services.clients.create({ client_name: "bench", grant_types: ["client_credentials"], scopes: [SCOPE] });
    return { clientId: client.client_id, clientSecret: clientSecret! };
  } finally {
    await storage.close();
  }
}

async function startGatehouse(): Promise<{ server: Server; clientId: string; clientSecret: string }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = {
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_SECRET: crypto.randomUUID() + crypto.randomUUID(),
    ADMIN_PASSWORD: crypto.randomUUID(),
    PORT: String(port),
    GATEWAY_PORT: String(await freePort()),
    HOST: "127.0.0.1",
    ISSUER: issuer,
    LOG_LEVEL: "warn",
    WORKERS: String(workers),
  };
  const credentials = await seedGatehouse(`file:${path.join(dataDir, "gatehouse.db")}`, env.KEY_ENCRYPTION_SECRET);
  const preload = options.queries ? ["--import", pathToFileURL(path.resolve("test/bench/count-queries.ts")).href] : [];
  const server = await startServer("gatehouse", nodeArgs("gatehouse", "src/main.ts", preload), env, issuer);
  return { server, ...credentials };
}

async function startBare(clientId: string, clientSecret: string): Promise<Server> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "bench", alg: "ES256", use: "sig" };
  const env = {
    PORT: String(port),
    ISSUER: issuer,
    CLIENT_ID: clientId,
    CLIENT_SECRET: clientSecret,
    AUDIENCE: API,
    SCOPE,
    ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    SIGNING_JWK: JSON.stringify(jwk),
  };
  return startServer("bare", nodeArgs("bare", "test/bench/bare-provider.ts"), env, issuer);
}

/** Fails unless the server answers a real token: 200 and an ES256 at+jwt for the API, valid under its JWKS, with the same lifetime. */
async function checkToken(server: Server, request: { headers: Record<string, string>; body: string }, clientId: string): Promise<void> {
  const response = await fetch(`${server.issuer}/token`, { method: "POST", headers: request.headers, body: request.body });
  const body = (await response.json()) as { access_token?: string; expires_in?: number };
  if (response.status !== 200 || typeof body.access_token !== "string" || body.expires_in !== ACCESS_TOKEN_TTL) {
    throw new Error(`${server.name}: token request answered ${response.status} ${JSON.stringify(body)}`);
  }
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(body.access_token, jwks, { issuer: server.issuer, audience: API, typ: "at+jwt", algorithms: ["ES256"] });
  if (payload.client_id !== clientId || payload.scope !== SCOPE) throw new Error(`${server.name}: unexpected claims ${JSON.stringify(payload)}`);
}

function difference(after: QueryCounts, before: QueryCounts): QueryCounts {
  const delta: QueryCounts = {};
  for (const [sql, count] of Object.entries(after)) if (count > (before[sql] ?? 0)) delta[sql] = count - (before[sql] ?? 0);
  return delta;
}

async function load(server: Server, seconds: number, request: { headers: Record<string, string>; body: string }): Promise<Measurement> {
  const countQueries = options.queries && server.name === "gatehouse";
  const queriesBefore = countQueries ? await server.queryCounts() : undefined;
  const serverCpuBefore = cpuSeconds(server.child.pid!);
  const selfBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const startedAt = performance.now();
  const result = await autocannon({ url: `${server.issuer}/token`, method: "POST", ...request, connections, duration: seconds });
  const elapsed = (performance.now() - startedAt) / 1000;
  served.set(server.name, (served.get(server.name) ?? 0) + result["2xx"]);
  const self = process.cpuUsage(selfBefore);
  const serverCores = (cpuSeconds(server.child.pid!) - serverCpuBefore) / elapsed;
  const loadCores = (self.user + self.system) / 1e6 / elapsed;
  const machineCores = (machineCpuSeconds() - machineBefore) / elapsed;
  const queries = queriesBefore ? difference(await server.queryCounts(), queriesBefore) : undefined;
  return {
    server: server.name,
    tokensPerSecond: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    tokens: result["2xx"],
    failures: result.non2xx + result.errors + result.timeouts,
    seconds: result.duration,
    serverCores,
    loadCores,
    otherCores: Math.max(0, machineCores - serverCores - loadCores),
    ...(queries ? { queries } : {}),
  };
}

function row(cells: Array<string | number>): string {
  const widths = [22, 10, 8, 8, 11, 10, 12, 10, 9];
  return cells.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join(" ");
}

interface Summary {
  tokensPerSecond: number;
  p50: number;
  p99: number;
  serverCores: number;
  loadCores: number;
  otherCores: number;
  /** Server CPU seconds per token: steadier than tokens/s when other work shares the machine. */
  cpuPerToken: number;
}

function summarize(measurements: Measurement[]): Summary {
  const mean = (pick: (m: Measurement) => number) => measurements.reduce((sum, m) => sum + pick(m), 0) / measurements.length;
  const tokens = measurements.reduce((sum, m) => sum + m.tokens, 0);
  const seconds = measurements.reduce((sum, m) => sum + m.seconds, 0);
  const cpu = measurements.reduce((sum, m) => sum + m.serverCores * m.seconds, 0);
  return {
    tokensPerSecond: tokens / seconds,
    p50: mean((m) => m.p50),
    p99: mean((m) => m.p99),
    serverCores: cpu / seconds,
    loadCores: mean((m) => m.loadCores),
    otherCores: mean((m) => m.otherCores),
    cpuPerToken: cpu / tokens,
  };
}

function summaryRow(label: string, s: Summary): string {
  return row([
    label,
    s.tokensPerSecond.toFixed(0),
    s.p50.toFixed(1),
    s.p99.toFixed(1),
    s.serverCores.toFixed(2),
    `${(s.cpuPerToken * 1e6).toFixed(0)} µs`,
    s.loadCores.toFixed(2),
    s.otherCores.toFixed(2),
  ]);
}

function report(measurements: Measurement[]): void {
  console.log();
  console.log(row(["", "tokens/s", "p50 ms", "p99 ms", "server CPU", "CPU/token", "loadgen CPU", "other CPU", "failures"]));
  measurements.forEach((m, i) => console.log(`${summaryRow(`${m.server} (round ${Math.floor(i / 2) + 1})`, summarize([m]))} ${String(m.failures).padStart(9)}`));
  const gatehouse = summarize(measurements.filter((m) => m.server === "gatehouse"));
  const bare = summarize(measurements.filter((m) => m.server === "bare"));
  console.log(summaryRow("gatehouse (all rounds)", gatehouse));
  console.log(summaryRow("bare (all rounds)", bare));

  const ratio = gatehouse.tokensPerSecond / bare.tokensPerSecond;
  const verdict = (met: boolean) => (met ? "met" : "NOT met");
  console.log();
  console.log(`ratio gatehouse/bare: ${ratio.toFixed(2)} in tokens/s, ${(bare.cpuPerToken / gatehouse.cpuPerToken).toFixed(2)} in CPU per token`);
  console.log(`goal >= ${GOAL_TOKENS_PER_SECOND} tokens/s: ${verdict(gatehouse.tokensPerSecond >= GOAL_TOKENS_PER_SECOND)} (${gatehouse.tokensPerSecond.toFixed(0)})`);
  console.log(`goal >= ${GOAL_RATIO} of bare oidc-provider: ${verdict(ratio >= GOAL_RATIO)} (${ratio.toFixed(2)})`);
  const disturbed = measurements.filter((m) => m.otherCores > 0.2);
  if (disturbed.length) console.log(`warning: other processes used more than 0.2 cores during ${disturbed.length} measurement(s); numbers are low and noisy`);

  const counted = measurements.filter((m) => m.queries);
  if (counted.length) {
    console.log();
    console.log("SQL statements Gatehouse ran during its measurements:");
    const totals: QueryCounts = {};
    for (const m of counted) for (const [sql, count] of Object.entries(m.queries!)) totals[sql] = (totals[sql] ?? 0) + count;
    const tokens = counted.reduce((sum, m) => sum + m.tokens, 0);
    const seconds = counted.reduce((sum, m) => sum + m.seconds, 0);
    const all = Object.values(totals).reduce((a, b) => a + b, 0);
    console.log(`  ${all} statements for ${tokens} tokens in ${seconds.toFixed(1)} s: ${(all / tokens).toFixed(4)} per token, ${(all / seconds).toFixed(1)} per second`);
    for (const [sql, count] of Object.entries(totals).sort((a, b) => b[1] - a[1]).slice(0, 10)) {
      console.log(`  ${String(count).padStart(8)}  ${sql.replace(/\s+/g, " ").slice(0, 150)}`);
    }
  }
}

async function main(): Promise<void> {
  const timeBudget = 30 + 2 * warmup + 2 * rounds * (duration + 2);
  setTimeout(() => {
    console.error(`bench: still running after ${timeBudget} s, giving up`);
    void cleanUp().finally(() => process.exit(1));
  }, timeBudget * 1000).unref();

  const { server: gatehouse, clientId, clientSecret } = await startGatehouse();
  const bare = await startBare(clientId, clientSecret);
  const request = {
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: SCOPE, resource: API }).toString(),
  };

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`token benchmark: ${os.availableParallelism()} cores (${cpu}), node ${process.version}, ${connections} connections, ${rounds} x ${duration} s per server, Gatehouse WORKERS=${workers}`);
  for (const server of [gatehouse, bare]) await checkToken(server, request, clientId);
  for (const server of [gatehouse, bare]) await load(server, warmup, request);

  const measurements: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const server of round % 2 === 0 ? [gatehouse, bare] : [bare, gatehouse]) {
      const m = await load(server, duration, request);
      process.stdout.write(`  ${m.server}: ${m.tokensPerSecond.toFixed(0)} tokens/s\n`);
      measurements.push(m);
    }
  }
  for (const server of [gatehouse, bare]) await checkToken(server, request, clientId);
  const failed = measurements.filter((m) => m.failures > 0);
  report(measurements);
  if (failed.length) throw new Error(`failed responses under load (${failed.map((m) => `${m.server}: ${m.failures}`).join(", ")})`);
}

let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  console.error("bench: interrupted");
  void cleanUp().finally(() => process.exit(130));
});
try {
  await main();
} catch (error) {
  // After Ctrl-C the servers are going away under the load; that failure is no news.
  if (!interrupted) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    for (const server of servers) console.error(`--- ${server.name} output (end) ---\n${server.output().slice(-3000)}`);
  }
  process.exitCode = 1;
} finally {
  await cleanUp();
  if (profileDir) {
    console.log(`\nCPU profiles in ${profileDir}/gatehouse and ${profileDir}/bare (summarise with test/bench/profile-summary.ts)`);
    console.log(`tokens issued under load: ${[...served].map(([name, count]) => `${name} ${count}`).join(", ")}`);
  }
}
