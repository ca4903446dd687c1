// `npm run bench:token`: the authorization server's token endpoints under load on loopback, each next to
// a reference measured in the same run with the same load. Gatehouse runs as the quick start runs it
// (`npm start`'s node options, JWT access tokens for one API and opaque ones for another, argon2id-hashed
// client secrets and passwords, SQLite in a fresh data dir, or a fresh PostgreSQL database with --database postgresql); the
// reference is a bare oidc-provider (bare-provider.ts: in-memory adapter, plaintext secret, the same ES256
// JWTs and opaque tokens), both as child processes. The load generator (autocannon) runs in this process;
// rounds alternate the order (AB, BA, ...) so drift hits both alike. On a small machine the load generator
// and the server compete for the same cores: with --pin (the default where taskset exists and there are
// at least 2 cores) both servers run on the last core and this process (the load) on the others, so each
// server has one core of its own, the same for both; every measurement also reports the CPU the server,
// the load generator and everything else on the machine used, and warns when other work disturbed it.
// The scenarios, each one line of the summary:
//
//   client-credentials  tokens/s of the client credentials grant, against the bare provider
//   refresh             refresh token rotations/s (one chain per connection), against the bare provider
//   introspect-jwt      introspections/s of valid JWT access tokens (oidc-provider has none: no reference)
//   introspect-opaque   introspections/s of valid opaque access tokens, against the bare provider
//   password            password grant logins/s and logins/s per core (argon2id-bound; no reference)
//
//   --scenarios LIST  comma-separated scenarios to run (all)
//   --database KIND   sqlite (the quick start) or postgresql (a fresh database on TEST_POSTGRES_URL's
//                     server, postgresql://postgres@127.0.0.1:5432 by default: the server's CPU shows as
//                     "other CPU")
//   --connections N   concurrent keep-alive connections (32; the password scenario uses at most 8)
//   --duration S      seconds per measurement (5)
//   --rounds N        measurements of each server per scenario (4)
//   --warmup S        seconds of load on each server before a scenario's measurements (10: both keep
//                     speeding up for a while)
//   --workers N       Gatehouse's WORKERS (1)
//   --no-pin          let the servers and the load generator share every core (see above)
//   --profile DIR     run both servers under --cpu-prof; profiles land in DIR/gatehouse and DIR/bare
//   --queries         count the SQL statements Gatehouse runs during each measurement (count-queries.ts;
//                     SQLite only)
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import autocannon, { type Options, type RequestSpec } from "autocannon";
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { createServices } from "../../src/services/index.ts";
import { openStorage } from "../../src/storage/index.ts";
import { freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, NODE } from "../helpers/gatehouse.ts";
import { startEnv, startNodeOptions } from "./start-options.ts";

const API = "https://orders.example.com";
const SCOPE = "orders:read";
const OPAQUE_API = "https://ledger.example.com";
const OPAQUE_SCOPE = "ledger:read";
const ACCESS_TOKEN_TTL = 600;
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, for /proc/<pid>/stat
const FORM = "application/x-www-form-urlencoded";
/** Users of the password scenario: one per connection, so no two logins race on one account's throttle. */
const LOGIN_USERS = 8;
/** Distinct tokens each introspection scenario cycles through. */
const INTROSPECTED_TOKENS = 64;

const GOAL_CLIENT_CREDENTIALS_RATIO = 0.95;
const GOAL_REFRESHES_PER_SECOND = 1000;
const GOAL_INTROSPECTIONS_PER_SECOND = 10_000;
/** Published figures the summary quotes beside Gatehouse's. */
const HYDRA_INTROSPECTIONS_PER_SECOND = 5109; // Ory Hydra's benchmark, 2 cores
const KEYCLOAK_LOGINS_PER_SECOND_PER_CPU = 15; // Keycloak's sizing guide, password logins per vCPU

const SCENARIOS = ["client-credentials", "refresh", "introspect-jwt", "introspect-opaque", "password"] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const { values: options } = parseArgs({
  options: {
    scenarios: { type: "string", default: SCENARIOS.join(",") },
    database: { type: "string", default: "sqlite" },
    connections: { type: "string", default: "32" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "4" },
    warmup: { type: "string", default: "10" },
    profile: { type: "string" },
    queries: { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
    pin: { type: "boolean", default: true },
  },
  allowNegative: true,
});

function positiveInteger(name: "connections" | "duration" | "rounds" | "warmup" | "workers"): number {
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
const selected = options.scenarios!.split(",").map((name) => name.trim());
for (const name of selected) if (!SCENARIOS.includes(name as ScenarioName)) throw new Error(`unknown scenario ${name}: one of ${SCENARIOS.join(", ")}`);
if (options.database !== "sqlite" && options.database !== "postgresql") throw new Error("--database must be sqlite or postgresql");
const backend = options.database as Backend;
const cores = os.availableParallelism();
/** With --pin: the core the servers run on (the last), and the cores the load generator runs on. */
const pinning = options.pin && cores >= 2 && fs.existsSync("/usr/bin/taskset") ? { server: String(cores - 1), load: `0-${cores - 2}` } : undefined;
if (options.queries && backend !== "sqlite") throw new Error("--queries counts SQLite statements only");

type QueryCounts = Record<string, number>;

interface Server {
  name: "gatehouse" | "bare";
  issuer: string;
  child: ChildProcess;
  output(): string;
  /** Running totals of SQL statements (only with --queries). */
  queryCounts(): Promise<QueryCounts>;
}

/** What one connection sends, for autocannon: fixed, or built before each request. */
type Load = Pick<Options, "method" | "headers" | "body" | "requests"> & { path: string };

/** One server in one scenario: how to load it, and a check that it answers correctly. */
interface Target {
  server: Server;
  /** Called before each measurement (a refresh chain needs fresh tokens). */
  load(): Promise<Load>;
  check(): Promise<void>;
}

interface Scenario {
  name: ScenarioName;
  /** What one successful request is: "tokens", "refreshes", ... */
  unit: string;
  connections: number;
  targets: Target[];
}

interface Measurement {
  server: string;
  perSecond: number;
  p50: number;
  p99: number;
  count: number;
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
/** Requests each server answered under load, warm-up included: the denominator for its CPU profile. */
const served = new Map<string, number>();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-bench-"));
let database: FreshDatabase | undefined;

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
  const deadline = Date.now() + 30_000;
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

async function startServer(name: Server["name"], args: string[], env: Record<string, string>, issuer: string): Promise<Server> {
  const [command, commandArgs] = pinning ? ["/usr/bin/taskset", ["-c", pinning.server, NODE, ...args]] : [NODE, args];
  const child = spawn(command, commandArgs, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
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
  await database?.drop().catch(() => undefined);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

function nodeArgs(name: string, script: string, extra: string[] = []): string[] {
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(profileDir, name)] : [];
  return [...profile, ...extra, script];
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

interface Credentials {
  /** A client_credentials client registered for both APIs. */
  machine: { id: string; secret: string };
  /** A password and refresh_token client (bare: the same client as machine). */
  app: { id: string; secret: string };
  /** Users of the password grant (Gatehouse only), all with one password. */
  users: string[];
  password: string;
}

async function seedGatehouse(url: string, keyEncryptionSecret: string): Promise<Credentials> {
  const storage = await openStorage(url);
  try {
    const services = createServices(storage, { keyEncryptionSecret });
    await services.scopes.apply({ name: SCOPE, description: "Read your orders" });
    await services.scopes.apply({ name: OPAQUE_SCOPE, description: "Read your ledger" });
    await services.apis.apply({ identifier: API, name: "Orders", scopes: [SCOPE], access_token_ttl: ACCESS_TOKEN_TTL });
    await services.apis.apply({ identifier: OPAQUE_API, name: "Ledger", scopes: [OPAQUE_SCOPE], access_token_ttl: ACCESS_TOKEN_TTL, token_format: "opaque" });
    const machine = await services.clients.create({ client_name: "bench", grant_types: ["client_credentials"], scopes: [SCOPE, OPAQUE_SCOPE] });
    const app = await services.clients.create({ client_name: "bench app", grant_types: ["password", "refresh_token"], scopes: [SCOPE, "offline_access"] });
    const password = crypto.randomBytes(18).toString("base64url");
    const users = Array.from({ length: LOGIN_USERS }, (_, i) => `bench-${i}`);
    for (const username of users) await services.users.create({ username, password });
    return { machine: { id: machine.client.client_id, secret: machine.client_secret! }, app: { id: app.client.client_id, secret: app.client_secret! }, users, password };
  } finally {
    await storage.close();
  }
}

async function startGatehouse(): Promise<{ server: Server; credentials: Credentials }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  database = backend === "postgresql" ? await freshDatabase("postgresql") : undefined;
  const url = database?.url ?? `file:${path.join(dataDir, "gatehouse.db")}`;
  const env = {
    ...startEnv(),
    DATABASE_URL: url,
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_SECRET: crypto.randomUUID() + crypto.randomUUID(),
    // Required with PostgreSQL (every instance must share it); SQLite would generate one in DATA_DIR.
    COOKIE_SECRETS: crypto.randomBytes(32).toString("base64url"),
    DPOP_NONCE_SECRET: crypto.randomBytes(32).toString("base64url"),
    ADMIN_PASSWORD: crypto.randomUUID(),
    PORT: String(port),
    GATEWAY_PORT: String(await freePort()),
    HOST: "127.0.0.1",
    ISSUER: issuer,
    LOG_LEVEL: "warn",
    WORKERS: String(workers),
  };
  const credentials = await seedGatehouse(url, env.KEY_ENCRYPTION_SECRET);
  const preload = options.queries ? ["--import", pathToFileURL(path.resolve("test/bench/count-queries.ts")).href] : [];
  const server = await startServer("gatehouse", nodeArgs("gatehouse", "src/main.ts", [...startNodeOptions(), ...preload]), env, issuer);
  return { server, credentials };
}

async function startBare(machine: Credentials["machine"]): Promise<Server> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "bench", alg: "ES256", use: "sig" };
  const env = {
    PORT: String(port),
    ISSUER: issuer,
    CLIENT_ID: machine.id,
    CLIENT_SECRET: machine.secret,
    AUDIENCE: API,
    OPAQUE_AUDIENCE: OPAQUE_API,
    SCOPE,
    ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    SIGNING_JWK: JSON.stringify(jwk),
  };
  return startServer("bare", nodeArgs("bare", "test/bench/bare-provider.ts"), env, issuer);
}

async function post(server: Server, endpoint: string, authorization: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.issuer}${endpoint}`, { method: "POST", headers: { authorization, "content-type": FORM }, body: form(fields) });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new Error(`${server.name}: POST ${endpoint} answered ${response.status} ${text.slice(0, 200)}`);
  }
}

/** Fails unless the answer is 200 with the given fields present. */
function expectOk(server: Server, what: string, answer: { status: number; body: Record<string, unknown> }, ...fields: string[]): Record<string, unknown> {
  if (answer.status !== 200 || fields.some((field) => answer.body[field] === undefined)) {
    throw new Error(`${server.name}: ${what} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** Fails unless the token is an ES256 at+jwt for the API, valid under the server's JWKS, with the same lifetime. */
async function checkJwt(server: Server, body: Record<string, unknown>, clientId: string): Promise<void> {
  if (body.expires_in !== ACCESS_TOKEN_TTL) throw new Error(`${server.name}: expires_in ${String(body.expires_in)}, not ${ACCESS_TOKEN_TTL}`);
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(String(body.access_token), jwks, { issuer: server.issuer, audience: API, typ: "at+jwt", algorithms: ["ES256"] });
  if (payload.client_id !== clientId || payload.scope !== SCOPE) throw new Error(`${server.name}: unexpected claims ${JSON.stringify(payload)}`);
}

/** A load whose request body changes per request: `body(state)` with `state` private to the connection. */
function dynamicLoad(path: string, authorization: string, body: (state: Record<string, unknown>) => string, onOk?: (state: Record<string, unknown>, response: Record<string, unknown>) => void): Load {
  const request: RequestSpec = {
    method: "POST",
    path,
    headers: { authorization, "content-type": FORM },
    // autocannon deep-copies this spec per connection and shallow-copies it per request: `state` is per connection.
    state: {},
    setupRequest: (spec) => ({ ...spec, body: body(spec.state as Record<string, unknown>) }),
    ...(onOk
      ? {
          onResponse(status: number, text: string) {
            if (status === 200) onOk(this.state as Record<string, unknown>, JSON.parse(text) as Record<string, unknown>);
          },
        }
      : {}),
  };
  return { path, requests: [request] };
}

function clientCredentials(gatehouse: Server, bare: Server, { machine }: Credentials): Scenario {
  const target = (server: Server): Target => {
    const fields = { grant_type: "client_credentials", scope: SCOPE, resource: API };
    const authorization = basic(machine.id, machine.secret);
    return {
      server,
      load: async () => ({ path: "/token", method: "POST", headers: { authorization, "content-type": FORM }, body: form(fields) }),
      check: async () => checkJwt(server, expectOk(server, "a client credentials request", await post(server, "/token", authorization, fields), "access_token"), machine.id),
    };
  };
  return { name: "client-credentials", unit: "tokens", connections, targets: [target(gatehouse), target(bare)] };
}

/**
 * Each connection refreshes its own chain: it starts from a fresh refresh token and sends the one each
 * answer rotated it to. Fresh tokens before each measurement, as a request cut off at the end of the
 * last one may have rotated a chain without the connection seeing its new token.
 */
function refresh(gatehouse: Server, bare: Server, credentials: Credentials): Scenario {
  const { app, machine, users, password } = credentials;
  const gatehouseTokens = async (count: number) => {
    const tokens: string[] = [];
    // One after the other: concurrent logins of one user would race on its throttle counters.
    for (let i = 0; i < count; i++) {
      const fields = { grant_type: "password", username: users[0]!, password, scope: `${SCOPE} offline_access`, resource: API };
      tokens.push(String(expectOk(gatehouse, "a password grant", await post(gatehouse, "/token", basic(app.id, app.secret), fields), "refresh_token").refresh_token));
    }
    return tokens;
  };
  const bareTokens = async (count: number) => (await (await fetch(`${bare.issuer}/bench/refresh-tokens?count=${count}`, { method: "POST" })).json()) as string[];
  const target = (server: Server, mint: (count: number) => Promise<string[]>, client: { id: string; secret: string }): Target => {
    const authorization = basic(client.id, client.secret);
    return {
      server,
      load: async () => {
        const fresh = await mint(connections);
        return dynamicLoad(
          "/token",
          authorization,
          (state) => form({ grant_type: "refresh_token", refresh_token: String((state.token ??= fresh.pop())) }),
          (state, response) => (state.token = response.refresh_token),
        );
      },
      check: async () => {
        const [token] = await mint(1);
        const body = expectOk(server, "a refresh", await post(server, "/token", authorization, { grant_type: "refresh_token", refresh_token: token! }), "access_token", "refresh_token");
        if (body.refresh_token === token) throw new Error(`${server.name}: the refresh token was not rotated`);
        await checkJwt(server, body, client.id);
      },
    };
  };
  return { name: "refresh", unit: "refreshes", connections, targets: [target(gatehouse, gatehouseTokens, app), target(bare, bareTokens, machine)] };
}

/** Introspection by the tokens' own client of INTROSPECTED_TOKENS valid access tokens, in turn. */
function introspection(name: "introspect-jwt" | "introspect-opaque", targets: Array<{ server: Server; resource: string; scope: string }>, { machine }: Credentials): Scenario {
  const authorization = basic(machine.id, machine.secret);
  return {
    name,
    unit: "introspections",
    connections,
    targets: targets.map(({ server, resource, scope }) => {
      let tokens: string[] | undefined;
      const issue = async () => {
        const fields = { grant_type: "client_credentials", scope, resource };
        const issued = [];
        for (let i = 0; i < INTROSPECTED_TOKENS; i++) issued.push(String(expectOk(server, "a client credentials request", await post(server, "/token", authorization, fields), "access_token").access_token));
        return issued;
      };
      return {
        server,
        load: async () => {
          tokens ??= await issue();
          let next = 0;
          return dynamicLoad("/introspect", authorization, () => form({ token: tokens![next++ % tokens!.length]!, token_type_hint: "access_token" }));
        },
        check: async () => {
          tokens ??= await issue();
          const body = expectOk(server, "an introspection", await post(server, "/introspect", authorization, { token: tokens[0]!, token_type_hint: "access_token" }), "active");
          if (body.active !== true || body.client_id !== machine.id || body.aud !== resource) throw new Error(`${server.name}: introspection answered ${JSON.stringify(body)}`);
        },
      };
    }),
  };
}

/** Password grant logins, each connection as its own user (LOGIN_USERS of them). */
function passwordLogins(gatehouse: Server, { app, users, password }: Credentials): Scenario {
  const authorization = basic(app.id, app.secret);
  const fields = (username: string) => ({ grant_type: "password", username, password, scope: SCOPE, resource: API });
  const loginConnections = Math.min(connections, users.length);
  return {
    name: "password",
    unit: "logins",
    connections: loginConnections,
    targets: [
      {
        server: gatehouse,
        load: async () => {
          let next = 0;
          return dynamicLoad("/token", authorization, (state) => form(fields(String((state.user ??= users[next++ % users.length])))));
        },
        check: async () => checkJwt(gatehouse, expectOk(gatehouse, "a password grant", await post(gatehouse, "/token", authorization, fields(users[0]!)), "access_token"), app.id),
      },
    ],
  };
}

function difference(after: QueryCounts, before: QueryCounts): QueryCounts {
  const delta: QueryCounts = {};
  for (const [sql, count] of Object.entries(after)) if (count > (before[sql] ?? 0)) delta[sql] = count - (before[sql] ?? 0);
  return delta;
}

async function measure(target: Target, seconds: number, scenario: Scenario): Promise<Measurement> {
  const { server } = target;
  const countQueries = options.queries && server.name === "gatehouse";
  const { path: endpoint, ...load } = await target.load();
  const queriesBefore = countQueries ? await server.queryCounts() : undefined;
  const serverCpuBefore = cpuSeconds(server.child.pid!);
  const selfBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const startedAt = performance.now();
  const result = await autocannon({ url: `${server.issuer}${endpoint}`, ...load, connections: scenario.connections, duration: seconds });
  const elapsed = (performance.now() - startedAt) / 1000;
  served.set(server.name, (served.get(server.name) ?? 0) + result["2xx"]);
  const self = process.cpuUsage(selfBefore);
  const serverCores = (cpuSeconds(server.child.pid!) - serverCpuBefore) / elapsed;
  const loadCores = (self.user + self.system) / 1e6 / elapsed;
  const machineCores = (machineCpuSeconds() - machineBefore) / elapsed;
  const queries = queriesBefore ? difference(await server.queryCounts(), queriesBefore) : undefined;
  return {
    server: server.name,
    perSecond: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    count: result["2xx"],
    failures: result.non2xx + result.errors + result.timeouts,
    seconds: result.duration,
    serverCores,
    loadCores,
    otherCores: Math.max(0, machineCores - serverCores - loadCores),
    ...(queries ? { queries } : {}),
  };
}

function row(cells: Array<string | number>): string {
  const widths = [22, 10, 8, 8, 11, 11, 12, 10, 9];
  return cells.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join(" ");
}

interface Summary {
  perSecond: number;
  p50: number;
  p99: number;
  serverCores: number;
  loadCores: number;
  otherCores: number;
  /** Server CPU seconds per request: steadier than requests/s when other work shares the machine. */
  cpuPerRequest: number;
}

function summarize(measurements: Measurement[]): Summary {
  const mean = (pick: (m: Measurement) => number) => measurements.reduce((sum, m) => sum + pick(m), 0) / measurements.length;
  const count = measurements.reduce((sum, m) => sum + m.count, 0);
  const seconds = measurements.reduce((sum, m) => sum + m.seconds, 0);
  const cpu = measurements.reduce((sum, m) => sum + m.serverCores * m.seconds, 0);
  return {
    perSecond: count / seconds,
    p50: mean((m) => m.p50),
    p99: mean((m) => m.p99),
    serverCores: cpu / seconds,
    loadCores: mean((m) => m.loadCores),
    otherCores: mean((m) => m.otherCores),
    cpuPerRequest: cpu / count,
  };
}

const microseconds = (seconds: number) => `${(seconds * 1e6).toFixed(0)} µs`;

function summaryRow(label: string, s: Summary): string {
  return row([label, s.perSecond.toFixed(0), s.p50.toFixed(1), s.p99.toFixed(1), s.serverCores.toFixed(2), microseconds(s.cpuPerRequest), s.loadCores.toFixed(2), s.otherCores.toFixed(2)]);
}

/** met / NOT met; a verdict on measurements other work disturbed says so, as it may not hold on a quiet machine. */
const verdict = (met: boolean, disturbed: boolean) => `${met ? "met" : "NOT met"}${disturbed ? " (measured while other processes used the machine: repeat when it is quiet)" : ""}`;

/** The scenario's table, and its one-line result for the closing summary. */
function report(scenario: Scenario, measurements: Measurement[]): string {
  console.log(`\n${scenario.name} (${scenario.unit}, ${scenario.connections} connections)`);
  console.log(row(["", `${scenario.unit}/s`, "p50 ms", "p99 ms", "server CPU", "CPU/request", "loadgen CPU", "other CPU", "failures"]));
  const perServer = scenario.targets.length;
  measurements.forEach((m, i) => console.log(`${summaryRow(`${m.server} (round ${Math.floor(i / perServer) + 1})`, summarize([m]))} ${String(m.failures).padStart(9)}`));
  const gatehouse = summarize(measurements.filter((m) => m.server === "gatehouse"));
  const bareMeasurements = measurements.filter((m) => m.server === "bare");
  const bare = bareMeasurements.length ? summarize(bareMeasurements) : undefined;
  console.log(summaryRow("gatehouse (all rounds)", gatehouse));
  if (bare) console.log(summaryRow("bare (all rounds)", bare));
  const disturbed = measurements.filter((m) => m.otherCores > 0.2);
  if (disturbed.length) console.log(`warning: other processes used more than 0.2 cores during ${disturbed.length} measurement(s); numbers are low and noisy`);
  reportQueries(measurements);

  const rate = `${gatehouse.perSecond.toFixed(0)} ${scenario.unit}/s, ${microseconds(gatehouse.cpuPerRequest)} CPU each`;
  const against = bare ? `; bare ${bare.perSecond.toFixed(0)}/s: ratio ${(gatehouse.perSecond / bare.perSecond).toFixed(2)} in ${scenario.unit}/s, ${(bare.cpuPerRequest / gatehouse.cpuPerRequest).toFixed(2)} in CPU per request` : "";
  const line = `${scenario.name.padEnd(18)} ${rate}${against}`;
  switch (scenario.name) {
    case "client-credentials": {
      const ratio = gatehouse.perSecond / bare!.perSecond;
      return `${line}\n${"".padEnd(19)}goal >= ${GOAL_CLIENT_CREDENTIALS_RATIO} of bare oidc-provider: ${verdict(ratio >= GOAL_CLIENT_CREDENTIALS_RATIO, disturbed.length > 0)}`;
    }
    case "refresh":
      return `${line}\n${"".padEnd(19)}goal >= ${GOAL_REFRESHES_PER_SECOND}/s on ${backend}: ${verdict(gatehouse.perSecond >= GOAL_REFRESHES_PER_SECOND, disturbed.length > 0)}`;
    case "introspect-jwt":
    case "introspect-opaque":
      return `${line}\n${"".padEnd(19)}goal >= ${GOAL_INTROSPECTIONS_PER_SECOND}/s: ${verdict(gatehouse.perSecond >= GOAL_INTROSPECTIONS_PER_SECOND, disturbed.length > 0)} (Ory Hydra publishes ${HYDRA_INTROSPECTIONS_PER_SECOND}/s on 2 cores)`;
    case "password": {
      const perCore = gatehouse.perSecond / gatehouse.serverCores;
      return `${line}\n${"".padEnd(19)}${perCore.toFixed(1)} logins/s per core of Gatehouse CPU (${gatehouse.serverCores.toFixed(2)} cores busy); Keycloak's sizing: ${KEYCLOAK_LOGINS_PER_SECOND_PER_CPU}/s per vCPU`;
    }
  }
}

function reportQueries(measurements: Measurement[]): void {
  const counted = measurements.filter((m) => m.queries);
  if (!counted.length) return;
  console.log("SQL statements Gatehouse ran during its measurements:");
  const totals: QueryCounts = {};
  for (const m of counted) for (const [sql, count] of Object.entries(m.queries!)) totals[sql] = (totals[sql] ?? 0) + count;
  const requests = counted.reduce((sum, m) => sum + m.count, 0);
  const seconds = counted.reduce((sum, m) => sum + m.seconds, 0);
  const all = Object.values(totals).reduce((a, b) => a + b, 0);
  console.log(`  ${all} statements for ${requests} requests in ${seconds.toFixed(1)} s: ${(all / requests).toFixed(4)} per request, ${(all / seconds).toFixed(1)} per second`);
  for (const [sql, count] of Object.entries(totals).sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    console.log(`  ${String(count).padStart(8)}  ${sql.replace(/\s+/g, " ").slice(0, 150)}`);
  }
}

async function run(scenario: Scenario): Promise<string> {
  for (const target of scenario.targets) await target.check();
  for (const target of scenario.targets) await measure(target, warmup, scenario);
  const measurements: Measurement[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? scenario.targets : [...scenario.targets].reverse();
    for (const target of order) {
      const m = await measure(target, duration, scenario);
      process.stdout.write(`  ${scenario.name}, ${m.server}: ${m.perSecond.toFixed(0)} ${scenario.unit}/s\n`);
      measurements.push(m);
    }
  }
  for (const target of scenario.targets) await target.check();
  const line = report(scenario, measurements);
  const failed = measurements.filter((m) => m.failures > 0);
  if (failed.length) throw new Error(`${scenario.name}: failed responses under load (${failed.map((m) => `${m.server}: ${m.failures}`).join(", ")})`);
  return line;
}

async function main(): Promise<void> {
  // -a: every thread of this process (libuv's pool too), so the load generator keeps off the servers' core.
  if (pinning) execFileSync("/usr/bin/taskset", ["-a", "-p", "-c", pinning.load, String(process.pid)], { stdio: "ignore" });
  const timeBudget = 60 + selected.length * (30 + 2 * warmup + 2 * rounds * (duration + 5));
  setTimeout(() => {
    console.error(`bench: still running after ${timeBudget} s, giving up`);
    void cleanUp().finally(() => process.exit(1));
  }, timeBudget * 1000).unref();

  const { server: gatehouse, credentials } = await startGatehouse();
  const bare = await startBare(credentials.machine);
  const build: Record<ScenarioName, () => Scenario> = {
    "client-credentials": () => clientCredentials(gatehouse, bare, credentials),
    refresh: () => refresh(gatehouse, bare, credentials),
    "introspect-jwt": () => introspection("introspect-jwt", [{ server: gatehouse, resource: API, scope: SCOPE }], credentials),
    "introspect-opaque": () =>
      introspection(
        "introspect-opaque",
        [
          { server: gatehouse, resource: OPAQUE_API, scope: OPAQUE_SCOPE },
          { server: bare, resource: OPAQUE_API, scope: SCOPE },
        ],
        credentials,
      ),
    password: () => passwordLogins(gatehouse, credentials),
  };

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `token benchmark: ${cores} cores (${cpu}), node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}, ` +
      `Gatehouse on ${backend} with WORKERS=${workers}, ${rounds} x ${duration} s per server and scenario; ` +
      (pinning ? `servers pinned to core ${pinning.server}, load generator to ${pinning.load}` : "servers and load generator share all cores"),
  );
  const lines: string[] = [];
  for (const name of selected as ScenarioName[]) lines.push(await run(build[name]()));
  console.log(`\nsummary (Gatehouse on ${backend}; load average now ${os.loadavg()[0]!.toFixed(2)})`);
  for (const line of lines) console.log(line);
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
    console.log(`requests answered under load: ${[...served].map(([name, count]) => `${name} ${count}`).join(", ")}`);
  }
}
