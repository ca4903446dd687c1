// `npm run bench:scale`: how Gatehouse behaves as its configuration grows (issue 11 §2). For each size N,
// a fresh database (SQLite in a fresh data dir, as the quick start, or a fresh PostgreSQL database with
// --database postgresql) is migrated and loaded straight through Prisma (createMany in batches, not through
// the services: argon2 hashing N secrets would take forever) with N confidential client_credentials
// clients (all with one precomputed argon2id secret hash), N/100 APIs with a scope each, and N/4 routes,
// each its own path prefix (/svc-<i>) on one of those APIs, all in front of one real upstream
// (gateway-upstream.ts). Then Gatehouse starts as `npm start` runs it (its node options, start-options.ts)
// and is measured:
//
//   start s        from spawning the process to 200 from /readyz on both ports (authorization server and
//                  gateway)
//   idle RSS MB    resident memory once ready and idle for 2 s more
//   KB/client      (idle RSS at N - idle RSS at the smallest size) / (N - smallest N)
//   client change  from the moment `gatehouse client create --grant client_credentials` (the CLI, its own
//                  process, same environment as the server) exits to the first 200 from POST /token with
//                  the new client's credentials, polled every 10 ms; the median of 3
//   route change   the same for `gatehouse route add`: until GET on the new path stops answering 404
//   tokens/s       client_credentials grants/s (autocannon, 32 connections) by a client made through the
//                  services
//   gateway req/s  GET through the last route of an API (autocannon, 50 connections) with that client's
//                  JWT access token
//
// and the issue's goals are judged: start under 5 s at 100,000 clients, at most 1 KB of idle memory per
// client, a change costing the same at every size (the largest size's median within 1.5 times, or 100 ms,
// of the smallest's), and gateway throughput not falling with the number of routes (at least 0.9 of the
// smallest size's: route matching whose cost does not grow with the routes).
//
//   --sizes LIST      comma-separated numbers of clients (1000,20000,100000); routes are a quarter of each
//   --database KIND   sqlite (the quick start) or postgresql (a fresh database on TEST_POSTGRES_URL's
//                     server, postgresql://postgres@127.0.0.1:5432 by default)
//   --duration S      seconds per throughput measurement (5), after 1 s of warm-up
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import os from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { hashSecret } from "../../src/services/passwords.ts";
import { openDatabase } from "../../src/storage/database.ts";
import { freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, NODE } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { cpuSeconds, machineCpuSeconds, memoryMB, startChild, stopAllChildren, stopChild, type Child } from "./gateway-processes.ts";
import { UPSTREAM_BODY } from "./gateway-upstream.ts";
import { startEnv, startNodeOptions } from "./start-options.ts";

const GOAL_START_SECONDS = 5;
const GOAL_START_AT_CLIENTS = 100_000;
const GOAL_KB_PER_CLIENT = 1;
/** A change "costs the same" when the largest size's median is within this factor of the smallest's ... */
const GOAL_CHANGE_GROWTH = 1.5;
/** ... or within this many milliseconds of it (poll cadence and noise dominate small times). */
const GOAL_CHANGE_SLACK_MS = 100;
const GOAL_GATEWAY_RATIO = 0.9;
/** Cores other processes may use during a throughput measurement before it is flagged as disturbed. */
const DISTURBED_CORES = 0.2;

const CLIENTS_PER_API = 100;
const BATCH = 1000;
const CHANGES = 3;
const POLL_MS = 10;
const CHANGE_TIMEOUT_MS = 30_000;
const SETTLE_MS = 2000;
const TOKEN_CONNECTIONS = 32;
const GATEWAY_CONNECTIONS = 50;
const FORM = "application/x-www-form-urlencoded";
const BULK_SECRET = "bulk-client-secret-for-the-scale-benchmark";

const START_NODE_OPTIONS = startNodeOptions();

const { values: options } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,20000,100000" },
    database: { type: "string", default: "sqlite" },
    duration: { type: "string", default: "5" },
  },
});
const sizes = options.sizes!.split(",").map((s) => Number(s.trim()));
if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < CLIENTS_PER_API)) throw new Error(`--sizes takes whole numbers of clients, each at least ${CLIENTS_PER_API}`);
sizes.sort((a, b) => a - b);
if (options.database !== "sqlite" && options.database !== "postgresql") throw new Error("--database must be sqlite or postgresql");
const backend = options.database as Backend;
const duration = Number(options.duration);
if (!Number.isInteger(duration) || duration <= 0) throw new Error("--duration must be a positive integer");

const apiIdentifier = (i: number) => `https://svc-${i}.example.com`;
const scopeName = (i: number) => `svc-${i}:read`;
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Result {
  clients: number;
  routes: number;
  loadSeconds: number;
  startSeconds: number;
  readyRssMB: number;
  idleRssMB: number;
  clientChangeMs: number[];
  routeChangeMs: number[];
  tokensPerSecond: number;
  gatewayPerSecond: number;
  /** CPU other processes on the machine used during the token and gateway measurements, in cores. */
  otherCores: { tokens: number; gateway: number };
}

/** N clients, N/100 APIs and scopes, N/4 routes, straight into the database in batches. */
async function bulkLoad(db: FreshDatabase, clients: number, upstream: string, secretHash: string): Promise<{ apis: number; routes: number }> {
  const apis = Math.max(1, Math.floor(clients / CLIENTS_PER_API));
  const routes = Math.floor(clients / 4);
  const prisma = await openDatabase(db.url, { connectMs: 10_000, queryMs: 600_000 });
  try {
    const batches = async (count: number, write: (from: number, to: number) => Promise<unknown>) => {
      for (let from = 0; from < count; from += BATCH) await write(from, Math.min(count, from + BATCH));
    };
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    await batches(apis, (from, to) => prisma.scope.createMany({ data: range(from, to).map((i) => ({ name: scopeName(i), description: `Read service ${i}` })) }));
    await batches(apis, (from, to) =>
      prisma.api.createMany({ data: range(from, to).map((i) => ({ identifier: apiIdentifier(i), name: `Service ${i}`, scopes: [scopeName(i)], accessTokenTtl: 3600 })) }),
    );
    await batches(routes, (from, to) =>
      prisma.apiRoute.createMany({
        data: range(from, to).map((i) => ({
          id: crypto.randomUUID(),
          apiIdentifier: apiIdentifier(i % apis),
          pathPrefix: `/svc-${i}`,
          methods: [],
          upstream,
          scopes: { GET: { allOf: [scopeName(i % apis)], anyOf: [] } },
        })),
      }),
    );
    await batches(clients, (from, to) =>
      prisma.client.createMany({
        data: range(from, to).map((i) => ({
          clientId: `bulk-${i}`,
          name: `Bulk client ${i}`,
          confidential: true,
          secretHash,
          redirectUris: [],
          postLogoutRedirectUris: [],
          grantTypes: ["client_credentials"],
          responseTypes: [],
          scopes: [scopeName(i % apis)],
          tokenEndpointAuthMethod: "client_secret_basic",
          allowedOrigins: [],
        })),
      }),
    );
    return { apis, routes };
  } finally {
    await prisma.$disconnect();
  }
}

async function waitUntil(what: string, child: Child, ready: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exited()) throw new Error(`${child.name} exited before ${what}:\n${child.output()}`);
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    await sleep(intervalMs);
  }
  throw new Error(`${child.name}: no ${what} within ${timeoutMs} ms:\n${child.output()}`);
}

/** Runs the CLI with Gatehouse's environment; its --json output. */
function cli(env: Record<string, string>, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(NODE, ["src/cli/main.ts", "--json", ...args], { env: { PATH: process.env.PATH ?? "", ...env } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`gatehouse ${args.join(" ")}: ${error.message}\n${stderr}${stdout}`));
      resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

/** Milliseconds from now until check() holds, polled every POLL_MS; Infinity after CHANGE_TIMEOUT_MS. */
async function untilUsable(check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < CHANGE_TIMEOUT_MS) {
    if (await check().catch(() => false)) return performance.now() - start;
    await sleep(POLL_MS);
  }
  return Infinity;
}

async function tokenFor(issuer: string, client: { id: string; secret: string }, api: number): Promise<Response> {
  return fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: basic(client.id, client.secret), "content-type": FORM },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: scopeName(api), resource: apiIdentifier(api) }),
  });
}

async function accessToken(issuer: string, client: { id: string; secret: string }, api: number): Promise<string> {
  const response = await tokenFor(issuer, client, api);
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || typeof body.access_token !== "string") throw new Error(`token request for ${client.id} answered ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Successful responses/s after 1 s of warm-up, and the cores everything but Gatehouse, the upstream and this process used meanwhile. */
async function perSecond(options: Parameters<typeof autocannon>[0], seconds: number, pids: number[]): Promise<{ rate: number; otherCores: number }> {
  await autocannon({ ...options, duration: 1 });
  const before = { pids: pids.map(cpuSeconds), self: process.cpuUsage(), machine: machineCpuSeconds(), at: performance.now() };
  const result = await autocannon({ ...options, duration: seconds });
  const elapsed = (performance.now() - before.at) / 1000;
  const self = process.cpuUsage(before.self);
  const known = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before.pids[i]!, 0) + (self.user + self.system) / 1e6;
  const failures = result.non2xx + result.errors + result.timeouts;
  if (failures) throw new Error(`${options.url}: ${failures} failed responses under load`);
  return { rate: result["2xx"] / result.duration, otherCores: Math.max(0, (machineCpuSeconds() - before.machine - known) / elapsed) };
}

async function measure(clients: number, upstream: Child, upstreamUrl: string, secretHash: string): Promise<Result> {
  const db = await freshDatabase(backend);
  try {
    // Migrated (openStorage migrates) before the bulk load; the services' client after it, for API 0's scope.
    await withServices(db, async () => undefined);
    const loadStart = performance.now();
    const { apis, routes } = await bulkLoad(db, clients, upstreamUrl, secretHash);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const real = await withServices(db, async (services) => {
      const made = await services.clients.create({ client_name: "scale bench", grant_types: ["client_credentials"], scopes: [scopeName(0)] });
      return { id: made.client.client_id, secret: made.client_secret! };
    });
    // The last bulk route of API 0: the one a linear matcher in insertion order reaches last.
    const lastRoute = Math.floor((routes - 1) / apis) * apis;

    const port = await freePort();
    const gatewayPort = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    const env = { ...startEnv(), ...db.env, PORT: String(port), GATEWAY_PORT: String(gatewayPort), HOST: "127.0.0.1", ISSUER: issuer, ADMIN_PASSWORD: crypto.randomUUID(), LOG_LEVEL: "warn" };
    const spawnedAt = performance.now();
    const child = startChild(`gatehouse (${clients} clients)`, NODE, [...START_NODE_OPTIONS, "src/main.ts"], env);
    try {
      const ready = (base: string) => async () => (await fetch(`${base}/readyz`)).status === 200;
      await Promise.all([waitUntil("/readyz 200 on the authorization server", child, ready(issuer), 300_000, 20), waitUntil("/readyz 200 on the gateway", child, ready(gateway), 300_000, 20)]);
      const startSeconds = (performance.now() - spawnedAt) / 1000;
      const readyRssMB = memoryMB(child.pid).rss;
      await sleep(SETTLE_MS);
      const idleRssMB = memoryMB(child.pid).rss;

      // Sanity: the services' client and the last bulk client get tokens; the gateway answers through the route.
      const token = await accessToken(issuer, real, 0);
      await accessToken(issuer, { id: `bulk-${clients - 1}`, secret: BULK_SECRET }, (clients - 1) % apis);
      const routeUrl = `${gateway}/svc-${lastRoute}/42`;
      const through = await fetch(routeUrl, { headers: { authorization: `Bearer ${token}` } });
      const body = await through.text();
      if (through.status !== 200 || body !== UPSTREAM_BODY) throw new Error(`GET ${routeUrl}: ${through.status} ${body.slice(0, 300)}`);

      const clientChangeMs: number[] = [];
      const routeChangeMs: number[] = [];
      for (let k = 0; k < CHANGES; k++) {
        const made = await cli(env, ["client", "create", "--name", `scale-${k}`, "--grant", "client_credentials", "--scope", scopeName(0)]);
        const credentials = { id: String(made.client_id), secret: String(made.client_secret) };
        clientChangeMs.push(await untilUsable(async () => (await tokenFor(issuer, credentials, 0)).status === 200));
      }
      for (let k = 0; k < CHANGES; k++) {
        await cli(env, ["route", "add", "--api", apiIdentifier(0), "--path", `/new-${k}`, "--upstream", upstreamUrl, "--scope", `GET=${scopeName(0)}`]);
        routeChangeMs.push(await untilUsable(async () => (await fetch(`${gateway}/new-${k}/42`, { headers: { authorization: `Bearer ${token}` } })).status !== 404));
      }

      const pids = [child.pid, upstream.pid];
      const tokens = await perSecond(
        {
          url: `${issuer}/token`,
          method: "POST",
          headers: { authorization: basic(real.id, real.secret), "content-type": FORM },
          body: new URLSearchParams({ grant_type: "client_credentials", scope: scopeName(0), resource: apiIdentifier(0) }).toString(),
          connections: TOKEN_CONNECTIONS,
        },
        duration,
        pids,
      );
      const gatewayLoad = await perSecond({ url: routeUrl, headers: { authorization: `Bearer ${token}` }, connections: GATEWAY_CONNECTIONS }, duration, pids);
      return {
        clients,
        routes,
        loadSeconds,
        startSeconds,
        readyRssMB,
        idleRssMB,
        clientChangeMs,
        routeChangeMs,
        tokensPerSecond: tokens.rate,
        gatewayPerSecond: gatewayLoad.rate,
        otherCores: { tokens: tokens.otherCores, gateway: gatewayLoad.otherCores },
      };
    } finally {
      await stopChild(child);
    }
  } finally {
    await db.drop().catch(() => undefined);
  }
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : `>${CHANGE_TIMEOUT_MS}`);

function report(results: Result[]): void {
  const smallest = results[0]!;
  const largest = results[results.length - 1]!;
  const kbPerClient = (r: Result) => (r === smallest ? undefined : ((r.idleRssMB - smallest.idleRssMB) * 1024) / (r.clients - smallest.clients));
  const headers = ["size", "clients", "routes", "start s", "idle RSS MB", "KB/client", "client change ms", "route change ms", "tokens/s", "gateway req/s"];
  const widths = headers.map((h) => Math.max(h.length, 8));
  console.log(`\nscale benchmark: Gatehouse on ${backend}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "unknown CPU"}), node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}`);
  console.log(row(headers, widths));
  for (const r of results) {
    const kb = kbPerClient(r);
    console.log(
      row(
        [
          r.clients.toLocaleString("en"),
          String(r.clients),
          String(r.routes),
          r.startSeconds.toFixed(2),
          r.idleRssMB.toFixed(0),
          kb === undefined ? "-" : kb.toFixed(2),
          ms(median(r.clientChangeMs)),
          ms(median(r.routeChangeMs)),
          r.tokensPerSecond.toFixed(0),
          r.gatewayPerSecond.toFixed(0),
        ],
        widths,
      ),
    );
  }
  console.log("\ndetails (change times are the 3 measurements; RSS when /readyz first answered 200 and 2 s later; bulk load time of the database)");
  for (const r of results) {
    console.log(
      `  ${String(r.clients).padStart(7)} clients: client change ${r.clientChangeMs.map(ms).join(", ")} ms; route change ${r.routeChangeMs.map(ms).join(", ")} ms; ` +
        `RSS ${r.readyRssMB.toFixed(0)} -> ${r.idleRssMB.toFixed(0)} MB; bulk load ${r.loadSeconds.toFixed(1)} s; ` +
        `other processes used ${r.otherCores.tokens.toFixed(2)} / ${r.otherCores.gateway.toFixed(2)} cores during the token / gateway measurements`,
    );
  }

  const verdict = (met: boolean) => (met ? "met" : "NOT met");
  const atGoal = results.find((r) => r.clients === GOAL_START_AT_CLIENTS) ?? (largest.clients >= GOAL_START_AT_CLIENTS ? largest : undefined);
  console.log("\ngoals (issue 11 §2)");
  if (atGoal) console.log(`  start < ${GOAL_START_SECONDS} s at ${atGoal.clients.toLocaleString("en")} clients: ${atGoal.startSeconds.toFixed(2)} s: ${verdict(atGoal.startSeconds < GOAL_START_SECONDS)}`);
  else console.log(`  start < ${GOAL_START_SECONDS} s at ${GOAL_START_AT_CLIENTS.toLocaleString("en")} clients: not measured (largest size ${largest.clients}: ${largest.startSeconds.toFixed(2)} s)`);
  if (results.length < 2) {
    console.log("  idle memory, change time and gateway throughput against size: need at least two sizes");
    return;
  }
  const worstKb = Math.max(...results.slice(1).map((r) => kbPerClient(r)!));
  console.log(`  idle memory <= ${GOAL_KB_PER_CLIENT} KB per client: worst ${worstKb.toFixed(2)} KB: ${verdict(worstKb <= GOAL_KB_PER_CLIENT)}`);
  const flat = (small: number, large: number) => large <= Math.max(small * GOAL_CHANGE_GROWTH, small + GOAL_CHANGE_SLACK_MS);
  for (const [what, pick] of [
    ["client", (r: Result) => median(r.clientChangeMs)],
    ["route", (r: Result) => median(r.routeChangeMs)],
  ] as const) {
    const small = pick(smallest);
    const large = pick(largest);
    console.log(
      `  ${what} change time not growing with size (at ${largest.clients} within ${GOAL_CHANGE_GROWTH}x or ${GOAL_CHANGE_SLACK_MS} ms of at ${smallest.clients}): ` +
        `${ms(small)} -> ${ms(large)} ms: ${verdict(flat(small, large))}`,
    );
  }
  const ratio = largest.gatewayPerSecond / smallest.gatewayPerSecond;
  const disturbed = [smallest, largest].some((r) => r.otherCores.gateway > DISTURBED_CORES);
  console.log(
    `  route matching not growing with routes (gateway req/s at ${largest.routes} routes >= ${GOAL_GATEWAY_RATIO} of at ${smallest.routes}): ` +
      `${smallest.gatewayPerSecond.toFixed(0)} -> ${largest.gatewayPerSecond.toFixed(0)} (ratio ${ratio.toFixed(2)}): ${verdict(ratio >= GOAL_GATEWAY_RATIO)}` +
      (disturbed ? ` (measured while other processes used more than ${DISTURBED_CORES} cores: repeat when the machine is quiet)` : ""),
  );
  console.log(
    `  (issue's figures, quick-start database: 20,000 clients / 5,000 routes 0.6 s to usable and 603 MB; 100,000 / 25,000 2.8 s and 1,262 MB)`,
  );
}

async function main(): Promise<void> {
  console.log(`scale benchmark: sizes ${sizes.join(", ")} on ${backend}, ${duration} s per throughput measurement`);
  const upstream = startChild("upstream", NODE, ["test/bench/gateway-upstream.ts"], {});
  const [, upstreamPort] = await upstream.waitForLine(/^LISTENING (\d+)$/, 10_000);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const secretHash = await hashSecret(BULK_SECRET);
  const results: Result[] = [];
  for (const clients of sizes) {
    process.stdout.write(`  ${clients} clients, ${Math.floor(clients / 4)} routes ... `);
    const result = await measure(clients, upstream, upstreamUrl, secretHash);
    console.log(
      `start ${result.startSeconds.toFixed(2)} s, ${result.idleRssMB.toFixed(0)} MB, client change ${ms(median(result.clientChangeMs))} ms, ` +
        `route change ${ms(median(result.routeChangeMs))} ms, ${result.tokensPerSecond.toFixed(0)} tokens/s, ${result.gatewayPerSecond.toFixed(0)} gateway req/s`,
    );
    results.push(result);
  }
  report(results);
}

let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  console.error("bench: interrupted");
  void stopAllChildren().finally(() => process.exit(130));
});
try {
  await main();
} catch (error) {
  if (!interrupted) console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await stopAllChildren();
}
