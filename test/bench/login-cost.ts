// What a whole sign-in (authorization code + PKCE through the real login and consent pages, then the
// code exchange at /token) and a refresh cost Gatehouse on PostgreSQL, and how much of that is the
// database client — to bound what moving short-lived oidc-provider artifacts to Redis could gain
// (issue 11). Runs Gatehouse as `npm start` runs it (WORKERS=1) on a fresh PostgreSQL database, under
// --cpu-prof, with count-pg-queries.ts preloaded, and a row trigger on "OidcArtifact" (test database
// only) that counts inserts/updates/deletes per model.
//
//   node --experimental-strip-types test/bench/login-cost.ts [--flows 100] [--concurrency 4] [--warmup 20] [--keep DIR] [--redis]
//
// --redis sets REDIS_URL (TEST_REDIS_URL or redis://127.0.0.1:6379, a unique REDIS_PREFIX): Gatehouse then
// keeps login throttles and replay records in Redis as it does in production with Redis; oidc-provider's
// artifacts stay in PostgreSQL either way. --keep DIR keeps the CPU profile there.
//
// Phases: warm-up flows (not reported), N sequential flows, N flows C at a time, N sequential refreshes
// (one per token from the sequential flows), N refreshes C at a time. Each flow signs in a distinct user,
// so every flow shows the consent page. For each phase: flows/s, Gatehouse CPU per flow (/proc, all
// threads, and split by thread: main JS thread, libuv pool = argon2id, V8 helpers = GC/compiler),
// main-thread self time by module from the CPU profile (samples inside the phase's time window), and
// SQL statements per flow by verb, table and oidc-provider model (counted in the pg driver), plus the
// trigger's row counts per model and operation.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, NODE } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";
import { startEnv, startNodeOptions } from "./start-options.ts";

const API = "https://orders.example.com";
const REDIRECT = "http://127.0.0.1:9/callback";
const PASSWORD = "correct horse battery staple";
const TICKS = 100;
const FORM = "application/x-www-form-urlencoded";

const { values: options } = parseArgs({
  options: {
    flows: { type: "string", default: "100" },
    concurrency: { type: "string", default: "4" },
    warmup: { type: "string", default: "20" },
    keep: { type: "string" },
    redis: { type: "boolean", default: false },
  },
});
const N = Number(options.flows);
const C = Number(options.concurrency);
const W = Number(options.warmup);
const profileDir = options.keep ? path.resolve(options.keep) : fs.mkdtempSync(path.join(os.tmpdir(), "login-cost-prof-"));
fs.mkdirSync(profileDir, { recursive: true });

let db: FreshDatabase | undefined;
let child: ChildProcess | undefined;

// ---------- process CPU ----------
function statOf(file: string): string[] {
  const stat = fs.readFileSync(file, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}
/** CPU seconds per thread group of the process: main (JS), libuv (thread pool: argon2id), v8 (GC/compiler helpers), other. */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = { main: 0, libuv: 0, v8: 0, other: 0 };
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = statOf(`/proc/${pid}/task/${tid}/stat`);
      const cpu = (Number(f[11]) + Number(f[12])) / TICKS;
      const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const group = Number(tid) === pid ? "main" : /libuv/i.test(comm) ? "libuv" : /V8|DefaultWork|DelayedTask/i.test(comm) ? "v8" : "other";
      out[group]! += cpu;
    } catch {
      // thread ended
    }
  }
  return out;
}
function processCpu(pid: number): number {
  const f = statOf(`/proc/${pid}/stat`);
  return (Number(f[11]) + Number(f[12])) / TICKS;
}
const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

// ---------- Gatehouse ----------
let stderrBuf = "";
let log = "";
const countWaiters: Array<(c: PgCounts) => void> = [];
interface PgCounts {
  counts: Record<string, number>;
  texts: Record<string, string>;
}

async function start(env: Record<string, string>, issuer: string): Promise<ChildProcess> {
  const preload = ["--import", pathToFileURL(path.resolve("test/bench/count-pg-queries.ts")).href];
  const args = ["--cpu-prof", "--cpu-prof-dir", profileDir, ...startNodeOptions(), ...preload, "src/main.ts"];
  const c = spawn(NODE, args, { env: { PATH: process.env.PATH ?? "", ...startEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  c.stdout!.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  c.stderr!.on("data", (chunk: Buffer) => {
    const lines = (stderrBuf + chunk.toString()).split("\n");
    stderrBuf = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("BENCH_PG_COUNTS ")) countWaiters.shift()?.(JSON.parse(line.slice(16)) as PgCounts);
      else log = (log + line + "\n").slice(-20_000);
    }
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (c.exitCode !== null) throw new Error(`gatehouse exited ${c.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${issuer}/.well-known/openid-configuration`)).ok) return c;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gatehouse did not start:\n${log}`);
}
const pgCounts = () =>
  new Promise<PgCounts>((resolve) => {
    countWaiters.push(resolve);
    child!.kill("SIGUSR2");
  });

// ---------- trigger counting writes per model ----------
async function sql<T = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}
const TRIGGER = `
CREATE TABLE bench_row_ops (model text, op text, n bigint, PRIMARY KEY (model, op));
CREATE FUNCTION bench_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE m text;
BEGIN
  IF TG_OP = 'DELETE' THEN m := OLD.model; ELSE m := NEW.model; END IF;
  INSERT INTO bench_row_ops VALUES (m, TG_OP, 1) ON CONFLICT (model, op) DO UPDATE SET n = bench_row_ops.n + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER bench_count_row AFTER INSERT OR UPDATE OR DELETE ON "OidcArtifact" FOR EACH ROW EXECUTE FUNCTION bench_count_row();`;
async function rowOps(url: string): Promise<Record<string, number>> {
  const rows = await sql<{ model: string; op: string; n: string }>(url, "SELECT model, op, n FROM bench_row_ops");
  return Object.fromEntries(rows.map((r) => [`${r.op} ${r.model}`, Number(r.n)]));
}
/** CPU seconds of the PostgreSQL backends serving our database (Gatehouse's pool; our own counting connections excluded). */
async function postgresCpu(url: string): Promise<number> {
  const rows = await sql<{ pid: number }>(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  let total = 0;
  for (const { pid } of rows) {
    try {
      total += processCpu(pid);
    } catch {
      // ended
    }
  }
  return total;
}
async function tableStats(url: string): Promise<Record<string, number>> {
  const [row] = await sql<Record<string, string>>(url, `SELECT seq_scan, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables WHERE relname = 'OidcArtifact'`);
  return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
}

// ---------- the flows ----------
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

async function signIn(issuer: string, clientId: string, auth: string, username: string): Promise<string> {
  const verifier = crypto.randomBytes(32).toString("base64url");
  const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
  const params = new URLSearchParams({
    client_id: clientId, response_type: "code", redirect_uri: REDIRECT, scope: "openid profile email orders:read", resource: API,
    code_challenge: challenge, code_challenge_method: "S256", state: crypto.randomBytes(8).toString("hex"),
  });
  const agent = new UserAgent();
  const start = await agent.follow(`${issuer}/authorize?${params}`, issuer);
  if (!start.page || !/name="password"/.test(start.page.html)) throw new Error(`no login page: ${start.page?.status} ${start.page?.html.slice(0, 300)}`);
  let result = await agent.submit(start.page, { username, password: PASSWORD }, issuer);
  if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, issuer);
  else throw new Error(`no consent page for ${username}: ${result.page?.status} ${result.redirect ?? result.page?.html.slice(0, 300)}`);
  const code = result.redirect ? new URL(result.redirect).searchParams.get("code") : null;
  if (!code) throw new Error(`no code: ${result.redirect ?? result.page?.html.slice(0, 300)}`);
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: auth, "content-type": FORM },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier, resource: API }),
  });
  const body = (await response.json()) as Record<string, string>;
  if (response.status !== 200 || !body.refresh_token || !body.id_token) throw new Error(`code exchange ${response.status} ${JSON.stringify(body)}`);
  return body.refresh_token;
}

async function refresh(issuer: string, auth: string, token: string): Promise<string> {
  const response = await fetch(`${issuer}/token`, { method: "POST", headers: { authorization: auth, "content-type": FORM }, body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: token }) });
  const body = (await response.json()) as Record<string, string>;
  if (response.status !== 200 || !body.refresh_token || !body.access_token) throw new Error(`refresh ${response.status} ${JSON.stringify(body)}`);
  return body.refresh_token;
}

async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

interface Phase {
  name: string;
  unit: string;
  count: number;
  seconds: number;
  cpu: number;
  postgres: number;
  threads: Record<string, number>;
  fromUs: number;
  toUs: number;
  loadBefore: string;
  loadAfter: string;
  queries: Record<string, number>;
  rows: Record<string, number>;
  table: Record<string, number>;
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

async function measure(name: string, unit: string, count: number, url: string, run: () => Promise<void>): Promise<Phase> {
  const pid = child!.pid!;
  const [q0, r0, t0] = [await pgCounts(), await rowOps(url), await tableStats(url)];
  const loadBefore = load();
  const pg0 = await postgresCpu(url);
  const th0 = threadCpu(pid);
  const cpu0 = processCpu(pid);
  const fromUs = monotonicUs();
  const began = performance.now();
  await run();
  const seconds = (performance.now() - began) / 1000;
  const toUs = monotonicUs();
  const cpu1 = processCpu(pid);
  const th1 = threadCpu(pid);
  const pg1 = await postgresCpu(url);
  const loadAfter = load();
  const [q1, r1, t1] = [await pgCounts(), await rowOps(url), await tableStats(url)];
  // the counting queries themselves go through other connections (rowOps/tableStats) or no SQL (pgCounts)
  const phase = { name, unit, count, seconds, cpu: cpu1 - cpu0, postgres: pg1 - pg0, threads: diff(th0, th1), fromUs, toUs, loadBefore, loadAfter, queries: diff(q0.counts, q1.counts), rows: diff(r0, r1), table: diff(t0, t1) };
  console.error(`${name}: ${count} in ${seconds.toFixed(1)} s = ${(count / seconds).toFixed(1)}/s, ${((1000 * phase.cpu) / count).toFixed(1)} ms CPU each, load ${loadBefore} -> ${loadAfter}`);
  return phase;
}

// ---------- profile ----------
interface ProfileNode { id: number; callFrame: { functionName: string; url: string } }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }

function category(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(program)") return "(program: native, unattributed)";
    return "native/builtin";
  }
  if (url.startsWith("wasm://")) return "db: prisma query compiler (wasm)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) {
    if (pkg.startsWith("@prisma/")) return "db: @prisma (client runtime, pg adapter)";
    if (/^(pg|pg-protocol|pg-pool|pg-types|postgres-.*|pg-int8|pgpass)$/.test(pkg)) return "db: pg driver";
    if (pkg === "argon2") return "argon2 (JS side)";
    if (pkg === "oidc-provider") return "oidc-provider";
    if (/^(koa|@koa\/.*|koa-.*)$/.test(pkg)) return "koa";
    if (pkg === "ejs") return "ejs";
    if (pkg === "jose") return "jose";
    return `other packages (${pkg})`;
  }
  if (url.startsWith("node:")) return "node internals";
  if (url.includes("/src/storage/generated/")) return "db: prisma generated client";
  if (url.includes("/src/storage/")) return "gatehouse src/storage";
  if (url.includes("/src/")) return "gatehouse src (other)";
  if (url.includes("/test/bench/")) return "bench preload";
  return "other";
}

function profileByCategory(profile: Profile, fromUs: number, toUs: number): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes as Array<ProfileNode & { children?: number[] }>) for (const c of node.children ?? []) parent.set(c, node.id);
  // A builtin or native function (no url: JSON.parse, Array#map, a crypto binding ...) counts for the
  // module of the nearest JavaScript frame that called it.
  const categoryOf = (id: number): string => {
    const own = category(byId.get(id)!);
    if (own !== "native/builtin") return own;
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const up = category(byId.get(at)!);
      if (up !== "native/builtin" && !up.startsWith("(")) return up;
    }
    return own;
  };
  const memo = new Map<number, string>();
  const out = new Map<string, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) return;
    if (!memo.has(id)) memo.set(id, categoryOf(id));
    const cat = memo.get(id)!;
    out.set(cat, (out.get(cat) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return out;
}

// ---------- main ----------
async function main(): Promise<void> {
  db = await freshDatabase("postgresql");
  const users = Array.from({ length: W + 2 * N }, (_, i) => `user-${i}`);
  console.error(`seeding ${users.length} users ...`);
  const ids = await withServices(db, async (services) => {
    await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
    await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
    for (const username of users) await services.users.create({ username, password: PASSWORD, email: `${username}@example.com`, claims: { name: username } });
    const web = await services.clients.create({ client_name: "Web app", grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], scopes: ["orders:read"] });
    return { id: web.client.client_id, secret: web.client_secret! };
  });
  await sql(db.url, TRIGGER);
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = {
    ...db.env, PORT: String(port), GATEWAY_PORT: String(await freePort()), HOST: "127.0.0.1", ISSUER: issuer, ADMIN_PASSWORD: crypto.randomUUID(), WORKERS: "1", LOG_LEVEL: "warn",
    ...(options.redis ? { REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", REDIS_PREFIX: `login-cost-${crypto.randomBytes(4).toString("hex")}` } : {}),
  };
  child = await start(env, issuer);
  const auth = basic(ids.id, ids.secret);

  let u = 0;
  for (let i = 0; i < W; i++) await refresh(issuer, auth, await signIn(issuer, ids.id, auth, users[u++]!));
  const phases: Phase[] = [];
  const seqUsers = users.slice(u, u + N);
  const conUsers = users.slice(u + N, u + 2 * N);
  const tokens: string[] = [];
  const tokens2: string[] = [];
  phases.push(await measure("sign-in, sequential", "flows", N, db.url, async () => { for (const user of seqUsers) tokens.push(await signIn(issuer, ids.id, auth, user)); }));
  phases.push(await measure(`sign-in, ${C} concurrent`, "flows", N, db.url, () => runPool(conUsers, C, async (user) => void tokens2.push(await signIn(issuer, ids.id, auth, user)))));
  phases.push(await measure("refresh, sequential", "refreshes", N, db.url, async () => { for (const t of tokens) await refresh(issuer, auth, t); }));
  phases.push(await measure(`refresh, ${C} concurrent`, "refreshes", N, db.url, () => runPool(tokens2, C, async (t) => void (await refresh(issuer, auth, t)))));

  const texts = (await pgCounts()).texts;
  // stop so the profile is written
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => child!.kill("SIGKILL"), 20_000);
    child!.once("exit", () => { clearTimeout(kill); resolve(); });
    child!.kill("SIGINT");
  });
  const file = fs.readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(profileDir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  const profile = file ? (JSON.parse(fs.readFileSync(file, "utf8")) as Profile) : undefined;

  const report = [];
  for (const p of phases) {
    const cats = profile ? profileByCategory(profile, p.fromUs, p.toUs) : new Map<string, number>();
    const sampled = [...cats].filter(([k]) => k !== "(idle)").reduce((s, [, v]) => s + v, 0);
    const dbUs = [...cats].filter(([k]) => k.startsWith("db:")).reduce((s, [, v]) => s + v, 0);
    const per = (x: number) => x / p.count;
    report.push({
      phase: p.name,
      perSecond: +(p.count / p.seconds).toFixed(2),
      cpuMsPerFlow: +((1000 * p.cpu) / p.count).toFixed(2),
      postgresBackendCpuMsPerFlow: +((1000 * p.postgres) / p.count).toFixed(2),
      threadsMsPerFlow: Object.fromEntries(Object.entries(p.threads).map(([k, v]) => [k, +((1000 * v) / p.count).toFixed(2)])),
      load: `${p.loadBefore} -> ${p.loadAfter}`,
      profileMainThreadMsPerFlow: +(per(sampled) / 1000).toFixed(2),
      profileDbClientMsPerFlow: +(per(dbUs) / 1000).toFixed(2),
      profileDbClientShareOfMainThread: +((100 * dbUs) / sampled).toFixed(1),
      // The profile samples wall time of the main thread, which on a loaded machine includes time it was
      // runnable but descheduled; so its shares are applied to the main thread's CPU from /proc.
      dbClientCpuMsPerFlowEstimate: +(((dbUs / sampled) * 1000 * (p.threads.main ?? 0)) / p.count).toFixed(2),
      profileDbClientShareOfProcessCpu: +((100 * (dbUs / sampled) * (p.threads.main ?? 0)) / p.cpu).toFixed(1),
      profileByCategoryMsPerFlow: Object.fromEntries([...cats].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +(per(v) / 1000).toFixed(3)])),
      sqlStatementsPerFlow: Object.fromEntries(Object.entries(p.queries).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +per(v).toFixed(2)])),
      sqlStatementsTotalPerFlow: +per(Object.values(p.queries).reduce((s, v) => s + v, 0)).toFixed(2),
      triggerRowsPerFlow: Object.fromEntries(Object.entries(p.rows).sort().map(([k, v]) => [k, +per(v).toFixed(2)])),
      pgStatUserTablesOidcArtifactPerFlow: Object.fromEntries(Object.entries(p.table).map(([k, v]) => [k, +per(v).toFixed(2)])),
    });
  }
  console.log(JSON.stringify({ redis: options.redis, flows: N, concurrency: C, warmup: W, cores: os.availableParallelism(), profile: file, report, sqlTexts: texts }, null, 2));
}

async function cleanUp(): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await db?.drop().catch(() => undefined);
  if (!options.keep) fs.rmSync(profileDir, { recursive: true, force: true });
}

main().then(cleanUp, async (error: unknown) => {
  console.error(error);
  console.error(log.slice(-3000));
  await cleanUp();
  process.exitCode = 1;
});
