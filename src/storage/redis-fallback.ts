// Redis first, the database when Redis cannot answer: the pattern of the repositories kept in Redis
// (redis-replays.ts, redis-throttles.ts). A call goes to Redis while the connection is up; while it is
// down (the connection logs that once), or for SUSPEND_MS after a command failed or took longer than
// the connection's command timeout (so a slow Redis does not add its timeout to every call), the call
// is answered by the database instead, as it would be without Redis. Nothing is retried: the next call
// tries Redis again by itself once it is usable. The first calls after opening wait up to
// FIRST_CONNECTION_WAIT_MS for the connection (once), so a process that acts right after starting (the
// CLI's unlock) uses Redis rather than the database. (The gateway's rate limits follow the same pattern
// with a local count as the stand-in: gateway/policies/rate-limit-redis.ts.)
import { log } from "../shared/logger.ts";
import type { RedisConnection } from "./redis.ts";

/** Longest wait for Redis's answer to one storage command, in milliseconds; then the database answers. */
export const STORAGE_COMMAND_TIMEOUT_MS = 100;
/** After a command failed or timed out, how long calls go to the database before Redis is tried again, in milliseconds. */
export const SUSPEND_MS = 1000;
/** How long the first calls wait for the connection to be established, in milliseconds (once per connection). */
export const FIRST_CONNECTION_WAIT_MS = 500;

export class RedisFallback {
  readonly #connection: RedisConnection;
  /** What is kept in Redis ("replays", "throttles"), for the log line. */
  readonly #what: string;
  /** Until when (ms, Date.now()) calls go to the database after a failed command. */
  #suspendedUntil = 0;
  /** Settles once the connection is first up or FIRST_CONNECTION_WAIT_MS have passed. */
  readonly #connected: Promise<boolean>;

  constructor(connection: RedisConnection, what: string) {
    this.#connection = connection;
    this.#what = what;
    this.#connected = connection.ready(FIRST_CONNECTION_WAIT_MS);
  }

  /** Whether a command may be sent to Redis now: connected, and not just after a failure. */
  usable(): boolean {
    return this.#connection.isReady() && Date.now() >= this.#suspendedUntil;
  }

  /** A command failed or timed out while connected: the database answers for SUSPEND_MS. (A lost connection is logged by the connection.) */
  failed(error: unknown): void {
    if (!this.#connection.isReady()) return;
    this.#suspendedUntil = Date.now() + SUSPEND_MS;
    log.warn(`${this.#what} kept in the database: redis command failed`, { error: error instanceof Error ? error.message : String(error), suspendedMs: SUSPEND_MS });
  }

  /**
   * viaRedis() when Redis is usable; viaDatabase() when it is not, or when viaRedis() rejected (then
   * failed() is called first). Rejects only with viaDatabase()'s error.
   */
  async attempt<T>(viaRedis: () => Promise<T>, viaDatabase: () => Promise<T>): Promise<T> {
    await this.#connected;
    if (!this.usable()) return viaDatabase();
    let result: T;
    try {
      result = await viaRedis();
    } catch (error) {
      this.failed(error);
      return viaDatabase();
    }
    return result;
  }
}
