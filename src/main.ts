// Gatehouse: prepares storage once (migrations, signing keys, first admin, the gateway's own client),
// then serves the authorization server and the API gateway (or one of them, by ROLE) in this
// process or in WORKERS processes sharing the ports (node:cluster). SIGTERM/SIGINT stop gracefully:
// in-flight requests finish, then the database is closed. METRICS_PORT serves Prometheus metrics (of
// every worker, from the primary).
import cluster from "node:cluster";
import module from "node:module";
import os from "node:os";
import { ConfigError, loadConfig, type Config } from "./config/env.ts";
import { cookieSecrets, keyEncryptionSecret } from "./config/secrets.ts";
import { createServices } from "./services/index.ts";
import { isDatabaseUnavailable, MissingDatabase, openStorage, type Storage, type StorageOptions } from "./storage/index.ts";
import { acquireSessionLock, BOOTSTRAP_LOCK_KEY, ensureDatabase, type SessionLock } from "./storage/database.ts";
import { ChangeFeed } from "./shared/change-feed.ts";
import { log, setLogLevel } from "./shared/logger.ts";
import { enableMetrics } from "./shared/metrics.ts";
import { clusterSource, registrySource, serveMetrics, type MetricsServer } from "./operations/metrics-server.ts";
import { RemoteKeySets } from "./shared/remote-key-sets.ts";
import { RevocationList } from "./shared/revocation-list.ts";
import { bootstrapAdmin } from "./authorization-server/bootstrap-admin.ts";
import { ensureGatewayClient } from "./gateway/internal-client.ts";
import { applyRacing, ensureAdminBuiltIns } from "./admin/built-in.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt`, waiting for a database that cannot be reached yet (it may be starting too): retries
 * with a delay doubling from 1 s to 30 s, one log line per attempt. Anything else (a missing database
 * that could not be created, bad credentials) ends the start at once with its message.
 */
async function whenReachable<T>(config: Config, attempt: () => Promise<T>): Promise<T> {
  for (let n = 1, delayMs = 1000; ; n++, delayMs = Math.min(delayMs * 2, 30_000)) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof MissingDatabase || !isDatabaseUnavailable(error)) throw error;
      const target = config.databaseKind === "postgresql" ? new URL(config.DATABASE_URL).host : config.DATABASE_URL;
      log.warn("database unreachable; retrying", { database: target, attempt: n, retryInSeconds: delayMs / 1000, error: (error as Error).message });
      await sleep(delayMs);
    }
  }
}

/** Opens storage, waiting for a database that cannot be reached yet (see whenReachable). */
function openStorageWhenReachable(config: Config, options: Omit<StorageOptions, "timeouts"> = {}): Promise<Storage> {
  const timeouts = { connectMs: config.DB_CONNECT_TIMEOUT_MS, queryMs: config.DB_QUERY_TIMEOUT_MS };
  const redis = config.REDIS_URL ? { url: config.REDIS_URL, prefix: config.REDIS_PREFIX } : undefined;
  return whenReachable(config, () => openStorage(config.DATABASE_URL, { ...options, timeouts, redis }));
}

/** Longest wait for another instance's start-up preparation (migrations included) before giving up. */
const BOOTSTRAP_LOCK_WAIT_MS = 5 * 60_000;

/**
 * On PostgreSQL, several instances may start at the same moment on one database: each takes a
 * session-level advisory lock (on a connection of its own) before its first write and keeps it until
 * storage is prepared, so they prepare one after another and the later ones find everything done.
 * SQLite is one machine's file: nothing to take.
 */
async function lockBootstrap(config: Config): Promise<SessionLock | undefined> {
  if (config.databaseKind !== "postgresql") return undefined;
  const url = config.DATABASE_URL;
  const timeouts = { connectMs: config.DB_CONNECT_TIMEOUT_MS, queryMs: config.DB_QUERY_TIMEOUT_MS };
  return whenReachable(config, async () => {
    // The lock lives in the database: it must exist first (created here when the role may).
    if (await ensureDatabase(url, timeouts)) log.info("created the database", { database: new URL(url).pathname.slice(1) });
    return acquireSessionLock(url, {
      key: BOOTSTRAP_LOCK_KEY,
      waitMs: BOOTSTRAP_LOCK_WAIT_MS,
      connectMs: timeouts.connectMs,
      onWait: () =>
        log.info("another instance is preparing the database; waiting for it to finish", { lock: BOOTSTRAP_LOCK_KEY, maxWaitSeconds: BOOTSTRAP_LOCK_WAIT_MS / 1000 }),
    });
  });
}

/**
 * Runs once per deployment start, before anything serves (and before workers fork). Every step is
 * idempotent, and on PostgreSQL they run under the start-up lock (see lockBootstrap).
 */
async function prepare(config: Config): Promise<Storage> {
  const lock = await lockBootstrap(config);
  try {
    const storage = await openStorageWhenReachable(config);
    cookieSecrets(config); // generated here, once, if the embedded default needs it: workers only read it
    const services = createServices(storage, { keyEncryptionSecret: keyEncryptionSecret(config), defaults: config });
    if (await services.keys.ensure(config.SIGNING_ALG)) log.info("generated signing keys", { alg: config.SIGNING_ALG });
    await bootstrapAdmin(config, storage, services);
    await applyRacing(() => ensureGatewayClient(config, services));
    await ensureAdminBuiltIns(config, services);
    return storage;
  } finally {
    await lock?.release();
  }
}

/** Starts the servers of this process; resolves to a function that stops them. */
async function serve(config: Config, storage: Storage): Promise<() => Promise<void>> {
  const secret = keyEncryptionSecret(config);
  const services = createServices(storage, { keyEncryptionSecret: secret, defaults: config });
  const feed = new ChangeFeed(storage, config.CONFIG_POLL_MS, config.DB_QUERY_TIMEOUT_MS * 2);
  const remoteKeySets = new RemoteKeySets({ cooldownSeconds: config.GATEWAY_JWKS_COOLDOWN });
  const revocations = new RevocationList(storage);
  await revocations.sync();
  feed.subscribe("revocations", () => revocations.sync());

  // Every server this process runs is built (its configuration loaded from the database) before any of
  // them listens: a process that answers on one port has finished starting, and a database that fails
  // midway ends the start before anything served (a balancer never sees a half-started instance).
  const servers: Array<{ name: string; listen(): Promise<{ port: number }>; close(): Promise<void> }> = [];
  // Each server's modules are loaded only when this process runs it (ROLE=gateway never loads oidc-provider).
  if (config.ROLE !== "gateway") {
    const { createAuthorizationServer } = await import("./authorization-server/server.ts");
    const authorizationServer = await createAuthorizationServer({
      config,
      storage,
      services,
      revocations,
      feed,
      cookieKeys: cookieSecrets(config),
      keyEncryptionSecret: () => secret,
      remoteKeySets,
    });
    servers.push({ name: "authorization server", listen: () => authorizationServer.listen(), close: () => authorizationServer.close() });
  }
  if (config.ROLE !== "authorization-server") {
    const { createGateway } = await import("./gateway/app.ts");
    const gateway = await createGateway({ config, storage, services, revocations, feed, keyEncryptionSecret: secret, remoteKeySets });
    servers.push({ name: "gateway", listen: () => gateway.listen(), close: () => gateway.close() });
  }
  for (const server of servers) {
    const address = await server.listen();
    if (server.name === "gateway") log.info("gateway listening", { port: address.port });
    else log.info("authorization server listening", { issuer: config.ISSUER, port: address.port, storage: storage.kind });
  }
  feed.start();
  // With NODE_COMPILE_CACHE (npm start sets it), every module this process needs is loaded now: keep them
  // compiled, so that the next start neither strips types again nor loads the type stripper (about 20 MB).
  module.flushCompileCache?.(); // Node 22.1 and later
  return async () => {
    await Promise.all(servers.map((server) => server.close()));
    await feed.stop();
  };
}

/**
 * Metrics (METRICS_PORT; nothing at all when unset): a single process keeps and serves its own; with
 * WORKERS=N each worker keeps its own and the primary serves them summed (prom-client's AggregatorRegistry).
 */
async function startMetrics(config: Config, role: "single" | "primary" | "worker"): Promise<MetricsServer | undefined> {
  if (config.METRICS_PORT === undefined) return undefined;
  if (role === "worker") {
    enableMetrics({ clusterWorker: true });
    return undefined;
  }
  const source = role === "primary" ? clusterSource() : registrySource(enableMetrics());
  const server = await serveMetrics(config.METRICS_PORT, config.HOST, source);
  log.info("metrics listening", { port: server.port, path: "/metrics", workers: role === "primary" });
  return server;
}

/** Purges expired records now, then every PURGE_INTERVAL seconds. */
function purgeOnSchedule(config: Config, storage: Storage): NodeJS.Timeout {
  const purge = () =>
    storage.purgeExpired({ throttleIdleSeconds: config.LOGIN_FAILURE_RESET }).then(
      (counts) => log.debug("purged expired records", counts),
      (error: unknown) => log.warn("purge failed", { error: String(error) }),
    );
  void purge();
  const timer = setInterval(purge, config.PURGE_INTERVAL * 1000);
  timer.unref();
  return timer;
}

function onSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { signal });
      stop(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          log.error("shutdown failed", { error: String(error) });
          process.exit(1);
        },
      );
    });
  }
}

/**
 * Says at start what several processes share without Redis: everything in the database, changes
 * announced through it, but gateway rate limits counted by each process (README, "Running several instances").
 */
function announceSharing(config: Config, workers: number): void {
  if (config.REDIS_URL || (config.databaseKind === "sqlite" && workers === 1)) return;
  log.info("REDIS_URL is not set: gateway rate limits count in each process; configuration, revocations and throttles are shared through the database", {
    storage: config.databaseKind,
    workers,
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.LOG_LEVEL);
  const workers = config.WORKERS === "auto" ? os.availableParallelism() : config.WORKERS;

  if (cluster.isWorker) {
    // The primary prepared storage; a worker only serves.
    const storage = await openStorageWhenReachable(config, { migrate: false });
    await startMetrics(config, "worker");
    const stop = await serve(config, storage);
    onSignal(async () => {
      await stop();
      await storage.close();
    });
    return;
  }

  const storage = await prepare(config);
  announceSharing(config, workers);
  const purge = purgeOnSchedule(config, storage);
  if (workers === 1) {
    const metrics = await startMetrics(config, "single");
    const stop = await serve(config, storage);
    onSignal(async () => {
      clearInterval(purge);
      await stop();
      await metrics?.close();
      await storage.close();
    });
    return;
  }

  // A worker that dies soon after it started (its database is down, say) is replaced after a delay that
  // doubles from 0.5 s to 30 s with each such death in a row, not at once.
  let stopping = false;
  let quickDeaths = 0;
  const fork = () => {
    const startedAt = Date.now();
    cluster.fork().on("exit", (code, signal) => {
      if (stopping) return;
      quickDeaths = Date.now() - startedAt < 10_000 ? quickDeaths + 1 : 0;
      const delayMs = quickDeaths === 0 ? 0 : Math.min(500 * 2 ** (quickDeaths - 1), 30_000);
      log.error("worker exited; starting another", { code, signal, inSeconds: delayMs / 1000 });
      setTimeout(() => {
        if (!stopping) fork();
      }, delayMs);
    });
  };
  const metrics = await startMetrics(config, "primary");
  for (let i = 0; i < workers; i++) fork();
  log.info("started workers", { workers });
  onSignal(async (signal) => {
    stopping = true;
    clearInterval(purge);
    const exits = Object.values(cluster.workers ?? {}).map(
      (worker) => new Promise<void>((resolve) => (worker!.isDead() ? resolve() : worker!.once("exit", () => resolve()))),
    );
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal as NodeJS.Signals);
    await Promise.all(exits);
    await metrics?.close();
    await storage.close();
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`gatehouse: ${error.message}\n`);
  else process.stderr.write(`gatehouse: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
