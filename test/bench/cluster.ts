// `npm run bench:cluster`: Gatehouse as a cluster (issue 11 §4). For each size k (1, 2 and 3 instances
// by default) a fresh PostgreSQL database gets a cluster of k instances behind a real HAProxy
// (test/helpers/cluster.ts: roundrobin, ISSUER the balancer's URL), all with one REDIS_URL and a prefix of
// their own (REDIS_PREFIX), seeded through the services with an API whose access tokens are JWTs, a
// route on it to a real upstream (gateway-upstream.ts, its own process), a client_credentials client with
// a secret and an admin API client. Through HAProxy, after a warm-up, autocannon (in this process) loads
//
//   tokens       POST /token, client_credentials with client_secret_basic, a JWT for the API (32 connections)
//   gateway      GET /orders/42 through the gateway port with one bearer token (50 connections)
//
// and the report shows per k: successful responses/s, p50/p99 (per-response timings, sub-millisecond),
// the scaling ratio against the smallest k, and where the CPU went: Gatehouse's CPU per request (all
// instances and their children summed, in µs) and in cores (all instances, and per instance),
// HAProxy's, PostgreSQL's (its `postgres` processes, found with pgrep: the server's own and the backends
// of this run's database; other databases' backends are others' work, left to "other"), the upstream's (gateway only), the load generator's (this process) and
// everything else on the machine ("other": others' work shares these cores and makes numbers noisy).
// The machine has few cores: once they are busy, more instances only share them, so the scaling shown
// here is bounded by cores, not by Gatehouse; CPU per request says what each instance costs.
// The instances run as startCluster runs them (plain node, not `npm start`'s node options).
//
// Then, on the largest cluster (3 instances by default), propagation between instances:
//
//   revocation   --repeats times: a JWT access token from the balancer, accepted once by each instance's
//                gateway (direct ports, so each has verified and cached it), revoked (RFC 7009, /revoke)
//                at one instance (each in turn), then each OTHER instance's gateway polled every 2 ms until
//                it answers 401; the delay per instance, from the revocation's 200 to that 401
//   new client   --repeats / 5 times (at least 1): a client created with the admin API (a bearer token for
//                urn:gatehouse:admin) at one instance (each in turn), then POST /token at each other
//                instance every 2 ms until 200; the delay from the creation's 201 to that 200
//
// with p50/p90/p99/max of all the delays, against the issue's goals: a revocation refused by every
// instance within 100 ms, a new client usable on every instance within 100 ms (judged on the maximum).
//
//   --instances LIST  comma-separated cluster sizes (1,2,3)
//   --duration S      seconds per throughput measurement (10)
//   --warmup S        seconds of load right before each measurement (3)
//   --repeats N       revocations measured (50); new clients: N / 5, at least 1
//   --tokens-connections N, --gateway-connections N   autocannon connections (32, 50)
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import autocannon, { type Options, type Result } from "autocannon";
import { startCluster, type Cluster, type ClusterInstance } from "../helpers/cluster.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { NODE } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { cpuSeconds, machineCpuSeconds, startChild, stopAllChildren, type Child } from "./gateway-processes.ts";
import { UPSTREAM_BODY } from "./gateway-upstream.ts";

const API = "https://orders.example.com";
const READ = "orders:read";
const ADMIN_API = "urn:gatehouse:admin";
const PATH = "/orders/42";
const FORM = "application/x-www-form-urlencoded";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const GOAL_REVOCATION_MS = 100;
const GOAL_NEW_CLIENT_MS = 100;
const POLL_MS = 2;
const PROPAGATION_TIMEOUT_MS = 10_000;
/** Cores other processes may use during a measurement before it is flagged as disturbed. */
const DISTURBED_CORES = 0.2;

const { values: options } = parseArgs({
  options: {
    instances: { type: "string", default: "1,2,3" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    repeats: { type: "string", default: "50" },
    "tokens-connections": { type: "string", default: "32" },
    "gateway-connections": { type: "string", default: "50" },
  },
});

function positiveInteger(name: "duration" | "warmup" | "repeats" | "tokens-connections" | "gateway-connections"): number {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}
const duration = positiveInteger("duration");
const warmup = positiveInteger("warmup");
const repeats = positiveInteger("repeats");
const clientRepeats = Math.max(1, Math.round(repeats / 5));
const tokenConnections = positiveInteger("tokens-connections");
const gatewayConnections = positiveInteger("gateway-connections");
const sizes = [...new Set(options.instances!.split(",").map((s) => Number(s.trim())))].sort((a, b) => a - b);
if (!sizes.length || sizes.some((k) => !Number.isInteger(k) || k < 1)) throw new Error("--instances takes whole numbers of instances, each at least 1");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

interface Credentials {
  id: string;
  secret: string;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

/** Every live process whose parent is pid (Gatehouse's WORKERS, if any). */
function childPids(pid: number): number[] {
  return fs.readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });
}

/** CPU seconds so far of each process in pids, by pid; a process gone meanwhile is left out. */
function snapshot(pids: number[]): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    try {
      seconds.set(pid, cpuSeconds(pid));
    } catch {
      // exited
    }
  }
  return seconds;
}

/** CPU seconds used between two snapshots: a process new in `after` counts in full (a new PostgreSQL backend). */
function used(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

function pgrep(args: string[]): number[] {
  try {
    return execFileSync("pgrep", args, { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * PostgreSQL's processes that work for this run: the server's own (postmaster, checkpointer, WAL writer, …)
 * and the backends connected to `database`; backends of other databases (others' work) are left to "other".
 */
function postgresPids(database: string): number[] {
  return pgrep(["-x", "postgres"]).filter((pid) => {
    try {
      // A backend's title: "postgres: 15/main: <user> <database> <address> <state>".
      const title = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "");
      const parts = title.split(": ");
      if (parts.length < 3) return true;
      const words = parts.slice(2).join(": ").split(" ");
      const backend = words.length >= 3 && /^(\[?[\d.:a-f]+\]?\(\d+\)|\[local\])$/.test(words[2]!);
      return !backend || words[1] === database;
    } catch {
      return false;
    }
  });
}

/** The processes measured: each instance (with its children), HAProxy, PostgreSQL, the upstream. */
interface Processes {
  instances: Array<() => number[]>;
  haproxy: () => number[];
  postgres: () => number[];
  upstream: () => number[];
}

interface CpuMark {
  at: number;
  machine: number;
  self: NodeJS.CpuUsage;
  instances: Array<Map<number, number>>;
  haproxy: Map<number, number>;
  postgres: Map<number, number>;
  upstream: Map<number, number>;
}

function mark(processes: Processes): CpuMark {
  return {
    at: performance.now(),
    machine: machineCpuSeconds(),
    self: process.cpuUsage(),
    instances: processes.instances.map((pids) => snapshot(pids())),
    haproxy: snapshot(processes.haproxy()),
    postgres: snapshot(processes.postgres()),
    upstream: snapshot(processes.upstream()),
  };
}

/** Cores each part used between the mark and now. */
function coresSince(before: CpuMark, processes: Processes) {
  const now = mark(processes);
  const elapsed = (now.at - before.at) / 1000;
  const self = process.cpuUsage(before.self);
  const instances = now.instances.map((after, i) => used(before.instances[i]!, after) / elapsed);
  const haproxy = used(before.haproxy, now.haproxy) / elapsed;
  const postgres = used(before.postgres, now.postgres) / elapsed;
  const upstream = used(before.upstream, now.upstream) / elapsed;
  const load = (self.user + self.system) / 1e6 / elapsed;
  const machine = (now.machine - before.machine) / elapsed;
  const gatehouse = instances.reduce((a, b) => a + b, 0);
  return { instances, gatehouse, haproxy, postgres, upstream, load, other: Math.max(0, machine - gatehouse - haproxy - postgres - upstream - load) };
}

// ---------------------------------------------------------------------------------------------
// Load

/** autocannon's instance: a thenable that also reports every response (the types in autocannon.d.ts stop at the promise). */
interface Tracker extends PromiseLike<Result> {
  on(event: "response", listener: (client: unknown, statusCode: number, bytes: number, milliseconds: number) => void): unknown;
}

interface Measurement {
  scenario: "tokens" | "gateway";
  size: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
  /** Gatehouse CPU seconds per successful response, all instances summed. */
  cpuPerRequest: number;
  cores: ReturnType<typeof coresSince>;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function measure(scenario: Measurement["scenario"], size: number, load: Options, processes: Processes): Promise<Measurement> {
  await autocannon({ ...load, duration: warmup });
  const before = mark(processes);
  const latencies: number[] = [];
  const tracker = autocannon({ ...load, duration }) as unknown as Tracker;
  tracker.on("response", (_client, statusCode, _bytes, milliseconds) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(milliseconds);
  });
  const result = await tracker;
  const cores = coresSince(before, processes);
  const sorted = Float64Array.from(latencies).sort();
  const ok = result["2xx"];
  return {
    scenario,
    size,
    perSecond: ok / result.duration,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    failures: result.non2xx + result.errors + result.timeouts,
    cpuPerRequest: (cores.gatehouse * result.duration) / ok,
    cores,
  };
}

// ---------------------------------------------------------------------------------------------
// The cluster

interface Setup {
  db: FreshDatabase;
  cluster: Cluster;
  worker: Credentials;
  adminToken: string;
  processes: Processes;
}

function tokenRequest(base: string, client: Credentials): Promise<Response> {
  return fetch(`${base}/token`, {
    method: "POST",
    headers: { authorization: basic(client.id, client.secret), "content-type": FORM },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: READ, resource: API }),
  });
}

async function accessToken(base: string, client: Credentials, scope = READ, resource = API): Promise<string> {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: { authorization: basic(client.id, client.secret), "content-type": FORM },
    body: new URLSearchParams({ grant_type: "client_credentials", scope, resource }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || typeof body.access_token !== "string") throw new Error(`token request at ${base} answered ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function gatewayStatus(gateway: string, token: string): Promise<number> {
  const response = await fetch(`${gateway}${PATH}`, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Milliseconds from `since` until check() holds, polled every POLL_MS; throws after PROPAGATION_TIMEOUT_MS. */
async function until(what: string, since: number, check: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await check().catch(() => false)) return performance.now() - since;
    if (performance.now() - since > PROPAGATION_TIMEOUT_MS) throw new Error(`${what}: not within ${PROPAGATION_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function startSetup(size: number, upstreamUrl: string, upstream: Child): Promise<Setup> {
  const db = await freshDatabase("postgresql");
  let cluster: Cluster | undefined;
  try {
    cluster = await startCluster(db, { size, env: { REDIS_URL, REDIS_PREFIX: `bench-cluster-${crypto.randomBytes(6).toString("hex")}` } });
    const { worker, admin } = await withServices(db, async (services) => {
      await services.apis.apply({ identifier: API, name: "Orders", scopes: [READ], access_token_ttl: 3600 });
      await services.routes.apply(API, { path_prefix: "/orders", upstream: upstreamUrl, scopes: { GET: { all_of: [READ], any_of: [] } } });
      const created = async (name: string, scopes: string[]) => {
        const { client, client_secret } = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes });
        return { id: client.client_id, secret: client_secret! };
      };
      return { worker: await created("bench worker", [READ]), admin: await created("bench automation", ["admin:read", "admin:write"]) };
    });
    // Every instance has the API, the route and the client before anything is measured.
    const c = cluster;
    for (const instance of c.instances) {
      await until(`the seed reached ${instance.name}`, performance.now(), async () => {
        const response = await tokenRequest(instance.url, worker);
        const body = (await response.json()) as { access_token?: string };
        if (response.status !== 200 || !body.access_token) return false;
        const through = await fetch(`${instance.gateway}${PATH}`, { headers: { authorization: `Bearer ${body.access_token}` } });
        return through.status === 200 && (await through.text()) === UPSTREAM_BODY;
      });
    }
    const adminToken = await accessToken(c.issuer, admin, "admin:read admin:write", ADMIN_API);
    const databaseName = new URL(db.url).pathname.slice(1);
    const haproxyConfig = `${db.dataDir}/haproxy.cfg`;
    const haproxyPids = pgrep(["-f", haproxyConfig]);
    if (!haproxyPids.length) throw new Error(`no haproxy process running ${haproxyConfig}`);
    const processes: Processes = {
      instances: c.instances.map((instance) => () => [instance.pid, ...childPids(instance.pid)]),
      haproxy: () => haproxyPids,
      postgres: () => postgresPids(databaseName),
      upstream: () => [upstream.pid],
    };
    return { db, cluster: c, worker, adminToken, processes };
  } catch (error) {
    await cluster?.stop();
    await db.drop().catch(() => undefined);
    throw error;
  }
}

async function stopSetup(setup: Setup): Promise<void> {
  await setup.cluster.stop();
  await setup.db.drop().catch(() => undefined);
}

async function throughput(setup: Setup): Promise<Measurement[]> {
  const { cluster, worker, processes } = setup;
  const size = cluster.instances.length;
  const tokens = await measure(
    "tokens",
    size,
    {
      url: `${cluster.issuer}/token`,
      method: "POST",
      headers: { authorization: basic(worker.id, worker.secret), "content-type": FORM },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: READ, resource: API }).toString(),
      connections: tokenConnections,
    },
    processes,
  );
  const token = await accessToken(cluster.issuer, worker);
  const gateway = await measure("gateway", size, { url: `${cluster.gateway}${PATH}`, headers: { authorization: `Bearer ${token}` }, connections: gatewayConnections }, processes);
  return [tokens, gateway];
}

// ---------------------------------------------------------------------------------------------
// Propagation

interface Propagation {
  /** Every delay in ms: one per repetition and instance polled. */
  delays: number[];
  /** The slowest instance's delay per repetition. */
  slowest: number[];
}

async function revocations(setup: Setup): Promise<Propagation> {
  const { cluster, worker } = setup;
  const delays: number[] = [];
  const slowest: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const at = cluster.instances[r % cluster.instances.length]!;
    const others = cluster.instances.filter((instance) => instance !== at);
    const token = await accessToken(cluster.issuer, worker);
    for (const instance of cluster.instances) {
      const status = await gatewayStatus(instance.gateway, token);
      if (status !== 200) throw new Error(`${instance.name}'s gateway answered ${status} to a fresh token`);
    }
    const response = await fetch(`${at.url}/revoke`, {
      method: "POST",
      headers: { authorization: basic(worker.id, worker.secret), "content-type": FORM },
      body: new URLSearchParams({ token, token_type_hint: "access_token" }),
    });
    const revoked = performance.now();
    if (response.status !== 200) throw new Error(`revocation at ${at.name} answered ${response.status} ${await response.text()}`);
    const times = await Promise.all(others.map((instance) => until(`${instance.name}'s gateway refuses a token revoked at ${at.name}`, revoked, async () => (await gatewayStatus(instance.gateway, token)) === 401)));
    delays.push(...times);
    slowest.push(Math.max(...times));
  }
  return { delays, slowest };
}

async function newClients(setup: Setup): Promise<Propagation> {
  const { cluster, adminToken } = setup;
  const delays: number[] = [];
  const slowest: number[] = [];
  for (let r = 0; r < clientRepeats; r++) {
    const at: ClusterInstance = cluster.instances[r % cluster.instances.length]!;
    const others = cluster.instances.filter((instance) => instance !== at);
    const response = await fetch(`${at.url}/admin/api/v1/clients`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ client_name: `bench fresh ${r}`, grant_types: ["client_credentials"], scopes: [READ] }),
    });
    const created = performance.now();
    if (response.status !== 201) throw new Error(`client creation at ${at.name} answered ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { client_id: string; client_secret: string };
    const fresh = { id: body.client_id, secret: body.client_secret };
    const times = await Promise.all(
      others.map((instance) =>
        until(`a client created at ${at.name} gets a token from ${instance.name}`, created, async () => {
          const answer = await tokenRequest(instance.url, fresh);
          await answer.arrayBuffer();
          return answer.status === 200;
        }),
      ),
    );
    delays.push(...times);
    slowest.push(Math.max(...times));
  }
  return { delays, slowest };
}

// ---------------------------------------------------------------------------------------------
// Report

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" ");
}

const WIDTHS = [9, 4, 8, 8, 7, 7, 9, 8, 17, 8, 8, 9, 8, 7, 8];

function throughputTable(measurements: Measurement[]): void {
  console.log(
    row(
      ["scenario", "k", "per s", "scaling", "p50 ms", "p99 ms", "GH µs/req", "GH cores", "per instance", "HAProxy", "Postgres", "upstream", "loadgen", "other", "failures"],
      WIDTHS,
    ),
  );
  for (const scenario of ["tokens", "gateway"] as const) {
    const rows = measurements.filter((m) => m.scenario === scenario);
    const base = rows[0];
    for (const m of rows) {
      console.log(
        row(
          [
            scenario,
            String(m.size),
            m.perSecond.toFixed(0),
            base ? `${(m.perSecond / base.perSecond).toFixed(2)}x` : "-",
            m.p50.toFixed(1),
            m.p99.toFixed(1),
            (m.cpuPerRequest * 1e6).toFixed(0),
            m.cores.gatehouse.toFixed(2),
            m.cores.instances.map((c) => c.toFixed(2)).join("/"),
            m.cores.haproxy.toFixed(2),
            m.cores.postgres.toFixed(2),
            scenario === "gateway" ? m.cores.upstream.toFixed(2) : "-",
            m.cores.load.toFixed(2),
            m.cores.other.toFixed(2),
            String(m.failures),
          ],
          WIDTHS,
        ),
      );
    }
  }
  console.log(
    "  per s: successful responses/s through HAProxy; scaling: against the smallest k; GH: Gatehouse, all instances summed " +
      "(µs of CPU per request, cores busy), per instance in cores; HAProxy, Postgres (the server's processes and this database's backends), upstream, loadgen " +
      "(this process) and other (everything else on the machine) in cores",
  );
}

function quantiles(values: number[]): { p50: number; p90: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
}

function propagationLine(label: string, p: Propagation): string {
  const q = quantiles(p.delays);
  return `${label.padEnd(34)} ${String(p.delays.length).padStart(6)} ${q.p50.toFixed(1).padStart(7)} ${q.p90.toFixed(1).padStart(7)} ${q.p99.toFixed(1).padStart(7)} ${q.max.toFixed(1).padStart(7)}`;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const propagationSize = sizes[sizes.length - 1]!;
  const budget = 120 + sizes.length * (90 + 2 * (warmup + duration + 5)) + (propagationSize > 1 ? repeats * 5 + clientRepeats * 10 : 0);
  setTimeout(() => {
    console.error(`bench: still running after ${budget} s, giving up`);
    void stopAllChildren().finally(() => process.exit(1));
  }, budget * 1000).unref();

  const cores = os.availableParallelism();
  console.log(
    `cluster benchmark: ${cores} cores (${os.cpus()[0]?.model ?? "unknown CPU"}), node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}; ` +
      `Gatehouse instances on one PostgreSQL database behind HAProxy, Redis ${REDIS_URL}; sizes ${sizes.join(", ")}; ` +
      `${warmup} s warm-up + ${duration} s per measurement; tokens ${tokenConnections} connections, gateway ${gatewayConnections}`,
  );
  const upstream = startChild("upstream", NODE, ["test/bench/gateway-upstream.ts"], {});
  const [, upstreamPort] = await upstream.waitForLine(/^LISTENING (\d+)$/, 10_000);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

  const measurements: Measurement[] = [];
  let revoked: Propagation | undefined;
  let created: Propagation | undefined;
  /** Cores other processes used while propagation was measured. */
  let propagationOther = 0;
  for (const size of sizes) {
    process.stdout.write(`  ${size} instance(s): starting ... `);
    const setup = await startSetup(size, upstreamUrl, upstream);
    current = setup;
    try {
      const [tokens, gateway] = await throughput(setup);
      measurements.push(tokens!, gateway!);
      console.log(
        `${tokens!.perSecond.toFixed(0)} tokens/s (other CPU ${tokens!.cores.other.toFixed(2)}), ${gateway!.perSecond.toFixed(0)} gateway req/s (other CPU ${gateway!.cores.other.toFixed(2)})`,
      );
      if (size === propagationSize && size > 1) {
        process.stdout.write(`  ${size} instances: ${repeats} revocations ... `);
        const before = mark(setup.processes);
        revoked = await revocations(setup);
        process.stdout.write(`slowest ${Math.max(...revoked.delays).toFixed(1)} ms; ${clientRepeats} new clients ... `);
        created = await newClients(setup);
        propagationOther = coresSince(before, setup.processes).other;
        console.log(`slowest ${Math.max(...created.delays).toFixed(1)} ms`);
      }
    } finally {
      current = undefined;
      await stopSetup(setup);
    }
  }

  console.log(`\nthroughput through HAProxy (${cores} cores; load average now ${os.loadavg()[0]!.toFixed(2)})`);
  throughputTable(measurements);
  const disturbed = measurements.filter((m) => m.cores.other > DISTURBED_CORES);
  if (disturbed.length) {
    console.log(
      `warning: other processes used more than ${DISTURBED_CORES} cores during ${disturbed.length} of ${measurements.length} measurement(s) ` +
        `(${disturbed.map((m) => `${m.scenario} k=${m.size}: ${m.cores.other.toFixed(2)}`).join(", ")}); those numbers are low and noisy`,
    );
  }

  const verdict = (met: boolean) => (met ? "met" : "NOT met");
  console.log(`\nsummary (issue 11 §4)`);
  for (const scenario of ["tokens", "gateway"] as const) {
    const rows = measurements.filter((m) => m.scenario === scenario);
    const base = rows[0]!;
    const unit = scenario === "tokens" ? "tokens/s" : "gateway req/s";
    const line = rows.map((m) => `k=${m.size} ${m.perSecond.toFixed(0)} (${(m.perSecond / base.perSecond).toFixed(2)}x, ${(m.cpuPerRequest * 1e6).toFixed(0)} µs CPU/req)`).join(", ");
    console.log(`  ${unit.padEnd(14)} ${line}`);
  }
  const busiest = Math.max(...measurements.map((m) => m.cores.gatehouse + m.cores.haproxy + m.cores.postgres + m.cores.upstream + m.cores.load + m.cores.other));
  console.log(
    `  scaling: no goal set; bounded by the ${cores} cores here, which the load generator, HAProxy, PostgreSQL and the instances share ` +
      `(up to ${busiest.toFixed(2)} cores busy during a measurement): more instances cannot add CPU, CPU per request shows what each costs`,
  );
  if (revoked && created) {
    console.log(`\npropagation between ${propagationSize} instances (ms from the change's response at one instance to each other instance's, polled every ${POLL_MS} ms)`);
    console.log(`${"".padEnd(34)} ${"delays".padStart(6)} ${"p50".padStart(7)} ${"p90".padStart(7)} ${"p99".padStart(7)} ${"max".padStart(7)}`);
    console.log(propagationLine(`revocation (${repeats} x ${propagationSize - 1} instances)`, revoked));
    console.log(propagationLine(`new client (${clientRepeats} x ${propagationSize - 1} instances)`, created));
    const maxRevoked = Math.max(...revoked.delays);
    const maxCreated = Math.max(...created.delays);
    console.log(`  revocation refused by every instance within ${GOAL_REVOCATION_MS} ms: max ${maxRevoked.toFixed(1)} ms, p99 ${quantiles(revoked.delays).p99.toFixed(1)} ms: ${verdict(maxRevoked <= GOAL_REVOCATION_MS)}`);
    console.log(`  new client usable on every instance within ${GOAL_NEW_CLIENT_MS} ms: max ${maxCreated.toFixed(1)} ms, p99 ${quantiles(created.delays).p99.toFixed(1)} ms: ${verdict(maxCreated <= GOAL_NEW_CLIENT_MS)}`);
    console.log(
      `  (other processes used ${propagationOther.toFixed(2)} cores while propagation was measured` +
        `${propagationOther > DISTURBED_CORES ? ": delays may be longer than on a quiet machine" : ""})`,
    );
  } else {
    console.log(`  propagation: not measured (needs a cluster of at least 2 instances; largest size ${propagationSize})`);
  }
  const failed = measurements.filter((m) => m.failures > 0);
  if (failed.length) throw new Error(`failed responses under load (${failed.map((m) => `${m.scenario} k=${m.size}: ${m.failures}`).join(", ")})`);
}

/** The cluster being measured, stopped (and its database dropped) however the run ends. */
let current: Setup | undefined;
let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  console.error("bench: interrupted");
  void Promise.all([stopAllChildren(), current && stopSetup(current)]).finally(() => process.exit(130));
});
try {
  await main();
} catch (error) {
  if (!interrupted) console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  if (current) await stopSetup(current);
  await stopAllChildren();
}
