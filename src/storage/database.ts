// The only place that creates a Prisma client. SQLite (embedded default) and PostgreSQL share one
// schema source of truth; each has its own generated client, and both expose the same API, so the rest
// of Gatehouse is typed against the SQLite one.
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { AdapterSql, type DirectSql, type DriverAdapter, type SqlDialect } from "./direct-sql.ts";
import type { PrismaClient } from "./generated/sqlite/client.ts";

export type Database = PrismaClient;
export type DatabaseKind = SqlDialect;

export function databaseKind(url: string): DatabaseKind {
  return url.startsWith("file:") ? "sqlite" : "postgresql";
}

/** Milliseconds; only PostgreSQL, over the network, needs them (SQLite waits SQLITE_BUSY_TIMEOUT_MS for its lock). */
export interface DatabaseTimeouts {
  /** Longest wait for a new connection. */
  connectMs: number;
  /** Longest wait for a query, client side and server side (statement_timeout). */
  queryMs: number;
}

export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { connectMs: 3000, queryMs: 5000 };

/**
 * How long a SQLite write waits for another connection's or process's write lock (the CLI and the server
 * share the file) before failing with SQLITE_BUSY, in milliseconds. Set on every connection the libsql
 * client opens (openDatabase): a PRAGMA reaches only the connection it ran on.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens the database. Only the client and driver of the database's kind are loaded (each generated
 * client with its query compiler holds about 30 MB). On PostgreSQL every wait is bounded, so a database that stops answering (a
 * network that drops or holds packets) fails requests within the bound instead of hanging them, and a
 * connection that timed out is discarded rather than reused (pg-pool drops a client released with an error).
 */
export async function openDatabase(url: string, timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS): Promise<Database> {
  if (databaseKind(url) === "sqlite") {
    const file = url.slice("file:".length);
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const [{ PrismaClient }, { PrismaLibSQL }, { createClient: createLibSqlClient }] = await Promise.all([
      import("./generated/sqlite/client.ts"),
      import("@prisma/adapter-libsql"),
      import("@libsql/client"),
    ]);
    const connected = new ConnectedAdapter();
    type LibSqlConfig = Parameters<InstanceType<typeof PrismaLibSQL>["createClient"]>[0];
    type LibSqlClient = ReturnType<InstanceType<typeof PrismaLibSQL>["createClient"]>;
    class LibSqlFactory extends PrismaLibSQL {
      override async connect() {
        return connected.set(await super.connect());
      }

      /**
       * The libsql client Prisma talks to (the adapter's documented createClient hook): the project's own
       * @libsql/client, whose connections are pooled and reused and each wait SQLITE_BUSY_TIMEOUT_MS for the
       * write lock. The adapter's bundled client opened a new connection after every transaction and never
       * closed the old one (a file descriptor and its page cache each, until collected), and set no busy
       * timeout on any.
       */
      override createClient(config: LibSqlConfig): LibSqlClient {
        return createLibSqlClient({ ...config, timeout: SQLITE_BUSY_TIMEOUT_MS }) as unknown as LibSqlClient;
      }
    }
    const db = new PrismaClient({ adapter: new LibSqlFactory({ url }) });
    return withDirectSql(db, "sqlite", connected);
  }
  const [{ PrismaClient: PgPrismaClient }, { PrismaPg }] = await Promise.all([import("./generated/postgresql/client.ts"), import("@prisma/adapter-pg")]);
  const pool = {
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: timeouts.connectMs,
    query_timeout: timeouts.queryMs,
    statement_timeout: timeouts.queryMs,
    idle_in_transaction_session_timeout: timeouts.queryMs * 2,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const connected = new ConnectedAdapter();
  class PgFactory extends PrismaPg {
    override async connect() {
      return connected.set(await super.connect());
    }
  }
  const db = new PgPrismaClient({ adapter: new PgFactory(pool) }) as unknown as Database;
  return withDirectSql(db, "postgresql", connected);
}

/**
 * The driver adapter Prisma connected last: it connects on its first query, disposes of the adapter on
 * $disconnect and connects a new one on the next query. A disposed adapter is forgotten (its pool is
 * ended), so the next direct statement connects Prisma again instead of failing.
 */
class ConnectedAdapter {
  current: DriverAdapter | undefined;
  set<T extends DriverAdapter & { dispose(): Promise<void> }>(adapter: T): T {
    this.current = adapter;
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = () => {
      if (this.current === adapter) this.current = undefined;
      return dispose();
    };
    return adapter;
  }
}

const directSqls = new WeakMap<Database, DirectSql>();

function withDirectSql(db: Database, kind: DatabaseKind, connected: ConnectedAdapter): Database {
  directSqls.set(
    db,
    new AdapterSql(kind, async () => {
      if (!connected.current) await db.$connect();
      return connected.current!;
    }),
  );
  return db;
}

/**
 * Statements on the same driver and connections as `db`'s Prisma client, past Prisma's query engine
 * (direct-sql.ts): for the hot path of oidc-provider's artifacts only.
 * @throws Error when db was not opened by openDatabase
 */
export function directSql(db: Database): DirectSql {
  const sql = directSqls.get(db);
  if (!sql) throw new Error("directSql: this Prisma client was not opened by openDatabase");
  return sql;
}

/** The PostgreSQL database DATABASE_URL names does not exist, and could not be created. */
export class MissingDatabase extends Error {
  override name = "MissingDatabase";
}

/**
 * Makes sure the PostgreSQL database exists: when it does not (SQLSTATE 3D000), creates it through the
 * server's `postgres` database if the role may, and otherwise throws MissingDatabase saying how to.
 * Connection failures are thrown as they are (see isDatabaseUnavailable), for the caller to retry.
 * @returns true when the database was created
 */
export async function ensureDatabase(url: string, timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeouts.connectMs });
  try {
    await probe.connect();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: maintenance.href, connectionTimeoutMillis: timeouts.connectMs });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (error) {
    // Another instance starting at the same moment created it first (42P04; 23505 when both raced in the catalog).
    const code = (error as { code?: string }).code;
    if (code === "42P04" || code === "23505") return false;
    const user = decodeURIComponent(target.username) || "the configured role";
    throw new MissingDatabase(
      `database "${name}" does not exist on ${target.hostname} and ${user} could not create it (${(error as Error).message}): ` +
        `create it with  createdb -h ${target.hostname} -p ${target.port || 5432} -U <a role that may> -O ${user} ${name}`,
    );
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** The advisory lock key instances hold while they prepare a PostgreSQL database at start (not migrate.ts's, which is taken inside). */
export const BOOTSTRAP_LOCK_KEY = 727_273;

/** A PostgreSQL session-level advisory lock, held on a connection of its own until released. */
export interface SessionLock {
  release(): Promise<void>;
}

/**
 * Takes the PostgreSQL session-level advisory lock `key` on a dedicated connection, so that several
 * instances starting at once do their start-up writes one after another. When another session holds it,
 * calls onWait once and waits at most waitMs (lock_timeout), then throws saying so. The lock goes with the
 * connection: a process that dies while holding it releases it.
 */
export async function acquireSessionLock(
  url: string,
  { key = BOOTSTRAP_LOCK_KEY, waitMs, connectMs = DEFAULT_TIMEOUTS.connectMs, onWait }: { key?: number; waitMs: number; connectMs?: number; onWait?: () => void },
): Promise<SessionLock> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectMs, application_name: "gatehouse bootstrap lock" });
  // A connection lost while the lock is held must not crash the process through an unhandled 'error' event.
  let lost: Error | undefined;
  client.on("error", (error) => (lost = error));
  await client.connect();
  try {
    const tried = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [key]);
    if (!tried.rows[0]!.locked) {
      onWait?.();
      await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(waitMs))}`);
      try {
        await client.query("SELECT pg_advisory_lock($1)", [key]);
      } catch (error) {
        if ((error as { code?: string }).code === "55P03") {
          throw new Error(`another instance held the start-up lock (PostgreSQL advisory lock ${key}) for more than ${Math.round(waitMs / 1000)} s`);
        }
        throw error;
      }
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        if (!lost) await client.query("SELECT pg_advisory_unlock($1)", [key]);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/** Whether `test` holds for the error or one of its causes (driver errors arrive wrapped by Prisma and its adapters). */
function someCause(error: unknown, test: (e: { message?: unknown; code?: unknown }) => boolean): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    if (test(e as { message?: unknown; code?: unknown })) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A write refused because a row with the same unique key exists (Prisma's P2002, PostgreSQL's 23505,
 * SQLite's UNIQUE constraint): at start, another instance created the same record first.
 */
export function isUniqueViolation(error: unknown): boolean {
  return someCause(error, ({ message, code }) => code === "P2002" || code === "23505" || /Unique constraint failed|UNIQUE constraint failed|duplicate key value violates unique constraint/i.test(String(message ?? "")));
}

/** An update whose row was not found (Prisma's P2025): a guarded update whose guard no longer held. */
export function isRecordNotFound(error: unknown): boolean {
  return someCause(error, ({ message, code }) => code === "P2025" || /No record was found for an update|Record to update not found/i.test(String(message ?? "")));
}
