// A Gatehouse cluster as production runs one: N instances (separate processes, each its own ports and
// data directory) on ONE PostgreSQL database, sharing KEY_ENCRYPTION_SECRET, COOKIE_SECRETS and ISSUER,
// behind a real HAProxy (roundrobin, `option httpchk GET /readyz`). ISSUER is the balancer's public URL,
// so a token any instance issues is Gatehouse's token on every other one. The balancer marks which
// instance answered in the X-Gatehouse-Instance response header, and serves its stats (CSV) so a test
// can see which servers it considers up. Each instance's own URLs are exposed too, to target one.
// HAProxy retries a request whose connection to an instance failed on another instance (any method:
// nothing was sent), and a GET or HEAD whose instance closed the connection without answering (a crash
// mid-request); a POST that reached an instance which then died is never replayed by the balancer (the
// client sees its connection closed without an answer, or a 502, and decides).
// Optionally every instance gets the same REDIS_URL (shared rate limits, change notifications): the shared
// Redis under a prefix of this cluster's own, or a private redis-server the test can stop and restart.
import type { Services } from "../../src/services/index.ts";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import type { FreshDatabase } from "./databases.ts";
import { freePort, NODE } from "./gatehouse.ts";

export const ADMIN_PASSWORD = "admin-password-for-tests";
/** Response header the balancer adds: the name (gh0, gh1, …) of the instance that answered. */
export const INSTANCE_HEADER = "x-gatehouse-instance";

export interface ClusterInstance {
  /** gh0, gh1, …: the server's name in haproxy.cfg and in INSTANCE_HEADER. */
  name: string;
  /** This instance's authorization server, directly (not through the balancer). */
  url: string;
  /** This instance's gateway, directly. */
  gateway: string;
  pid: number;
  env: Record<string, string>;
  output(): string;
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
}

export interface Cluster {
  /** The balancer's authorization server port's URL: ISSUER of every instance. */
  issuer: string;
  /** The balancer's gateway port's URL. */
  gateway: string;
  instances: ClusterInstance[];
  /** HAProxy's view of each instance ("UP", "DOWN", "UP 1/2", …) per backend: { as: { gh0: "UP" }, gateway: {…} }. */
  balancerStatus(): Promise<Record<"as" | "gateway", Record<string, string>>>;
  /** HAProxy's counters per backend: requests retried (wretr) and redispatched to another instance (wredis). */
  balancerRetries(): Promise<Record<"as" | "gateway", { retries: number; redispatches: number }>>;
  /** The Redis every instance uses (REDIS_URL, REDIS_PREFIX), when the `redis` option asked for one. */
  redis?: ClusterRedis;
  haproxyOutput(): string;
  /** Stops HAProxy and every instance still running (SIGTERM, then SIGKILL after a few seconds). */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  size?: number;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
  /** HAProxy's health check interval, in milliseconds (default 200). */
  checkIntervalMs?: number;
  /**
   * Start every instance at the same moment on the fresh database (as an orchestrator starting replicas
   * would), instead of the first alone (migrations, signing keys) and then the others.
   */
  together?: boolean;
  /**
   * Give every instance the same REDIS_URL: "shared" is the Redis at TEST_REDIS_URL (default
   * redis://127.0.0.1:6379) under a REDIS_PREFIX of this cluster's own (its keys deleted by stop());
   * "private" is a redis-server child on a free port, which the test may stop and start again (see
   * ClusterRedis). Default: none (each instance counts its rate limits on its own).
   */
  redis?: "shared" | "private";
}

export interface ClusterRedis {
  url: string;
  prefix: string;
  /** Whether this is a private redis-server child (which stop/start act on). */
  private: boolean;
  /** Private only: SIGKILLs the redis-server (its data is lost: it keeps nothing on disk). */
  stop(): Promise<void>;
  /** Private only: starts it again on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** The number of keys under this cluster's prefix (0 while a private Redis is down). */
  keyCount(): Promise<number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child this module started, killed if the test process exits without stopping them. */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

function track(child: ChildProcess): () => string {
  children.add(child);
  child.once("exit", () => children.delete(child));
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  return () => log;
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<number | string | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode);
    const force = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", (code, sig) => {
      clearTimeout(force);
      resolve(code ?? sig);
    });
    child.kill(signal);
  });
}

async function waitFor(what: string, ready: () => Promise<boolean>, failed: () => string | undefined, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const failure = failed();
    if (failure) throw new Error(`${what}: ${failure}`);
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`);
}

async function startInstance(db: FreshDatabase, index: number, issuer: string, extraEnv: Record<string, string>): Promise<ClusterInstance> {
  const name = `gh${index}`;
  const port = await freePort();
  const gatewayPort = await freePort();
  const dataDir = path.join(db.dataDir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = {
    // DATABASE_URL, KEY_ENCRYPTION_SECRET, COOKIE_SECRETS and LOG_LEVEL: the same for every instance.
    ...db.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    GATEWAY_PORT: String(gatewayPort),
    HOST: "127.0.0.1",
    ISSUER: issuer,
    // One proxy (HAProxy, `option forwardfor`) in front.
    TRUST_PROXY: "1",
    ADMIN_PASSWORD,
    ...extraEnv,
  };
  const child = spawn(NODE, ["--disable-warning=DEP0060", "src/main.ts"], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output = track(child);
  const url = `http://127.0.0.1:${port}`;
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? `exited with ${child.exitCode ?? child.signalCode}:\n${output()}` : undefined);
  try {
    await waitFor(`instance ${name}`, async () => (await fetch(`${url}/readyz`)).ok && (await fetch(`${gateway}/readyz`)).ok, exited);
  } catch (error) {
    await stopChild(child, "SIGKILL");
    throw error;
  }
  return {
    name,
    url,
    gateway,
    pid: child.pid!,
    env,
    output,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: (signal = "SIGTERM") => stopChild(child, signal),
  };
}

function haproxyConfig(ports: { as: number; gateway: number; stats: number }, instances: ClusterInstance[], checkIntervalMs: number): string {
  const servers = (pick: (instance: ClusterInstance) => string) =>
    instances.map((instance) => `  server ${instance.name} ${new URL(pick(instance)).host} check`).join("\n");
  const backend = (name: string, pick: (instance: ClusterInstance) => string) => `backend ${name}
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  # A failed connection (nothing sent) is retried on another instance whatever the method; a GET or
  # HEAD whose instance closed the connection without an answer (killed mid-request) is too. Any other
  # request that reached an instance is never replayed: its effect may have been committed.
  retry-on conn-failure empty-response
  http-request disable-l7-retry if !METH_GET
  default-server inter ${checkIntervalMs} fastinter ${checkIntervalMs} downinter ${checkIntervalMs} fall 2 rise 2
  http-response set-header ${INSTANCE_HEADER} %[srv_name]
${servers(pick)}
`;
  return `global
  maxconn 2000

defaults
  mode http
  option forwardfor
  # Every retry goes to another instance (not the one that just failed), up to 3.
  option redispatch 1
  retries 3
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout check 1s

frontend stats
  bind 127.0.0.1:${ports.stats}
  stats enable
  stats uri /stats

frontend as
  bind 127.0.0.1:${ports.as}
  default_backend as

frontend gateway
  bind 127.0.0.1:${ports.gateway}
  default_backend gateway

${backend("as", (i) => i.url)}
${backend("gateway", (i) => i.gateway)}`;
}

async function openClusterRedis(kind: "shared" | "private"): Promise<ClusterRedis & { close(): Promise<void> }> {
  const prefix = `gatehouse-cluster-${crypto.randomBytes(6).toString("hex")}`;
  const probe = (url: string) => {
    const client = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    client.on("error", () => undefined);
    return client;
  };
  const keysOf = async (url: string) => {
    const client = probe(url);
    try {
      await client.connect();
      return await client.keys(`${prefix}:*`);
    } catch {
      return [];
    } finally {
      client.disconnect();
    }
  };
  if (kind === "shared") {
    const url = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
    const unsupported = () => Promise.reject(new Error("the shared Redis is not the cluster's to stop or start"));
    return {
      url,
      prefix,
      private: false,
      stop: unsupported,
      start: unsupported,
      keyCount: async () => (await keysOf(url)).length,
      close: async () => {
        const keys = await keysOf(url);
        if (!keys.length) return;
        const client = probe(url);
        try {
          await client.connect();
          await client.del(...keys);
        } finally {
          client.disconnect();
        }
      },
    };
  }
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error("the private Redis is running");
    const started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    const output = track(started);
    const client = probe(url);
    try {
      await waitFor(
        "private redis-server",
        async () => (await client.ping().catch(() => "")) === "PONG",
        () => (started.exitCode !== null || started.signalCode !== null ? `exited with ${started.exitCode ?? started.signalCode}:\n${output()}` : undefined),
        10_000,
      );
    } finally {
      client.disconnect();
    }
  };
  const stop = async () => {
    if (child) await stopChild(child, "SIGKILL");
  };
  await start();
  return { url, prefix, private: true, stop, start, keyCount: async () => (await keysOf(url)).length, close: stop };
}

/**
 * Starts the cluster on `db` (PostgreSQL): the first instance alone (it runs the migrations and creates
 * the signing keys), then the others together, then HAProxy; resolves once HAProxy sees every instance up.
 */
export async function startCluster(db: FreshDatabase, options: ClusterOptions = {}): Promise<Cluster> {
  const size = options.size ?? 3;
  const ports = { as: await freePort(), gateway: await freePort(), stats: await freePort() };
  const issuer = `http://127.0.0.1:${ports.as}`;
  const instances: ClusterInstance[] = [];
  let haproxy: ChildProcess | undefined;
  let haproxyOutput = () => "";
  let redis: Awaited<ReturnType<typeof openClusterRedis>> | undefined;

  const stop = async () => {
    if (haproxy) await stopChild(haproxy, "SIGTERM", 2000);
    await Promise.all(instances.map((instance) => instance.stop()));
    await redis?.close();
  };

  try {
    if (options.redis) redis = await openClusterRedis(options.redis);
    const env = { ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix } : {}), ...options.env };
    // Instances that did start are kept (and stopped below) even when another one fails to.
    const startAll = async (indexes: number[]) => {
      const started = await Promise.allSettled(indexes.map((index) => startInstance(db, index, issuer, env)));
      for (const result of started) if (result.status === "fulfilled") instances.push(result.value);
      const failed = started.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
    };
    const indexes = Array.from({ length: size }, (_, i) => i);
    if (options.together) await startAll(indexes);
    else {
      await startAll(indexes.slice(0, 1));
      await startAll(indexes.slice(1));
    }
    instances.sort((a, b) => a.name.localeCompare(b.name));
    const config = path.join(db.dataDir, "haproxy.cfg");
    fs.writeFileSync(config, haproxyConfig(ports, instances, options.checkIntervalMs ?? 200));
    haproxy = spawn("haproxy", ["-f", config, "-db"], { stdio: ["ignore", "pipe", "pipe"] });
    haproxyOutput = track(haproxy);
    const statsRows = async () => {
      const csv = await (await fetch(`http://127.0.0.1:${ports.stats}/stats;csv`)).text();
      const [header, ...rows] = csv.trim().split("\n");
      const columns = header!.replace(/^# /, "").split(",");
      return { rows, at: (name: string) => columns.indexOf(name) };
    };
    const retriesOf = async () => {
      const { rows, at } = await statsRows();
      const result: Record<"as" | "gateway", { retries: number; redispatches: number }> = { as: { retries: 0, redispatches: 0 }, gateway: { retries: 0, redispatches: 0 } };
      for (const row of rows) {
        const cells = row.split(",");
        const proxy = cells[at("pxname")];
        if ((proxy === "as" || proxy === "gateway") && cells[at("svname")] === "BACKEND") {
          result[proxy] = { retries: Number(cells[at("wretr")] || 0), redispatches: Number(cells[at("wredis")] || 0) };
        }
      }
      return result;
    };
    const statusOf = async () => {
      const { rows, at } = await statsRows();
      const result: Record<"as" | "gateway", Record<string, string>> = { as: {}, gateway: {} };
      for (const row of rows) {
        const cells = row.split(",");
        const proxy = cells[at("pxname")] as "as" | "gateway";
        const server = cells[at("svname")]!;
        if ((proxy === "as" || proxy === "gateway") && server !== "BACKEND" && server !== "FRONTEND") result[proxy][server] = cells[at("status")]!;
      }
      return result;
    };
    const h = haproxy;
    await waitFor(
      "haproxy",
      async () => {
        const status = await statusOf();
        return instances.every((i) => status.as[i.name] === "UP" && status.gateway[i.name] === "UP");
      },
      () => (h.exitCode !== null || h.signalCode !== null ? `exited with ${h.exitCode ?? h.signalCode}:\n${haproxyOutput()}` : undefined),
      15_000,
    );
    return {
      issuer,
      gateway: `http://127.0.0.1:${ports.gateway}`,
      instances,
      balancerStatus: statusOf,
      balancerRetries: retriesOf,
      ...(redis ? { redis } : {}),
      haproxyOutput: () => haproxyOutput(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A client's id and secret, as the admin API returns them. */
export interface Credentials {
  client_id: string;
  client_secret: string;
}

/** HTTP Basic client authentication (RFC 6749 §2.3.1). */
export const basic = (client: Credentials) => `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`;

/** A call through a gateway to the orders route: its status and, on a refusal, the reason. */
export async function callGateway(gateway: string, accessToken: string, path = "/orders/1"): Promise<{ status: number; body: string }> {
  const response = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: response.status, body: response.status === 200 ? "" : await response.text() };
}

/** Whether the authorization server at `base` says the access token is active (RFC 7662). */
export async function introspect(base: string, client: Credentials, accessToken: string): Promise<boolean> {
  const response = await fetch(`${base}/introspect`, {
    method: "POST",
    headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: accessToken }),
  });
  if (response.status !== 200) throw new Error(`introspection at ${base}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { active: boolean }).active;
}

/** Polls `done` until it is true; resolves to the milliseconds since `since`, or rejects after timeoutMs. */
export async function timeUntil(what: string, since: number, done: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  for (;;) {
    if (await done()) return Date.now() - since;
    if (Date.now() - since > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A confidential client of the client credentials grant, made through the services: its id and secret. */
export async function machineClient(services: Services, name: string, scopes: string[]): Promise<Credentials> {
  const { client, client_secret } = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes });
  return { client_id: client.client_id, client_secret: client_secret! };
}
