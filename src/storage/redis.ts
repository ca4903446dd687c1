// The one place that opens Redis (REDIS_URL). What uses it (the gateway's shared rate limits) must keep
// working without it: the connection is made in the background and never stops the start, it is
// retried forever with a bounded backoff, and a command sent while Redis is down fails at once (no
// offline queue) so the caller can fall back to something local instead of waiting. Going down and
// coming back are each logged once, not once per command.
import { Redis, type RedisOptions } from "ioredis";
import { log } from "../shared/logger.ts";

/** Longest wait between two reconnection attempts, in milliseconds. */
export const MAX_RECONNECT_DELAY_MS = 2000;
/** Longest wait for a connection (TCP and TLS) to be established, in milliseconds. */
const CONNECT_TIMEOUT_MS = 1000;

export interface RedisOpenOptions {
  /** What the connection is for, in its log lines ("rate limits", "change notifications"). */
  purpose?: string;
  /**
   * Longest wait for a command's reply, in milliseconds; past it the command fails with "Command timed
   * out" (the reply, if it comes, is ignored). Unset: no limit.
   */
  commandTimeoutMs?: number;
}

/** A Redis connection with Gatehouse's key prefix. */
export interface RedisConnection {
  /** The ioredis client: commands reject at once (never queue) while the connection is not ready. */
  readonly client: Redis;
  /** `name` under this deployment's prefix: `<REDIS_PREFIX>:<name>`. */
  key(name: string): string;
  /** Whether the connection is up and commands can be sent now. */
  isReady(): boolean;
  /** Resolves true once the connection is up, false when it is not within `timeoutMs` milliseconds. Never rejects. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Closes the connection (QUIT when connected, else at once) and stops reconnecting. Never rejects. */
  close(): Promise<void>;
}

/**
 * Delay before reconnection attempt `attempt` (1, 2, …), in milliseconds: 50 ms doubling up to
 * MAX_RECONNECT_DELAY_MS, with up to 20% jitter so instances do not all come back at once. Never gives up.
 */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS);
  return Math.round(base * (0.8 + Math.random() * 0.2));
}

/** Where the URL points, without credentials, for log lines. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return "redis";
  }
}

/**
 * Opens Redis at `url` (redis:// or rediss://, as REDIS_URL) with keys under `prefix` (REDIS_PREFIX).
 * Returns at once: the connection is established in the background and re-established forever after a
 * loss (reconnectDelay), so neither an unreachable Redis nor a later outage throws or crashes the
 * process — commands simply reject while it is down. Throws only on a URL ioredis cannot parse.
 */
export function openRedis(url: string, prefix: string, options: RedisOpenOptions = {}): RedisConnection {
  const settings: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails instead of being resent after reconnecting.
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  const client = new Redis(url, settings);
  const where = describe(url);
  const about = { redis: where, ...(options.purpose ? { purpose: options.purpose } : {}) };
  /** undefined until the first connection or failure; then whether the last news was up (true) or down (false). */
  let up: boolean | undefined;
  let closing = false;

  client.on("ready", () => {
    if (up !== true) log.info(up === false ? "redis reachable again" : "redis connected", about);
    up = true;
  });
  const down = (error?: Error) => {
    if (closing || up === false) return;
    up = false;
    log.warn("redis unreachable", { ...about, ...(error ? { error: error.message } : {}) });
  };
  // An "error" listener is required (ioredis would print each one otherwise); a failed connection attempt
  // or a lost connection is an outage, a command's own error (a timeout, a script error) is not.
  client.on("error", (error: Error) => {
    if (client.status !== "ready") down(error);
  });
  client.on("close", () => down());
  // Connecting is not awaited: the start never waits for Redis or fails because of it.
  client.connect().catch(() => undefined);

  const base = `${prefix}:`;
  return {
    client,
    key: (name) => base + name,
    isReady: () => client.status === "ready",
    ready(timeoutMs) {
      if (client.status === "ready") return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          client.off("ready", onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        client.on("ready", onReady);
      });
    },
    async close() {
      closing = true;
      if (client.status === "ready") {
        try {
          await client.quit();
          return;
        } catch {
          // fall through: drop the connection
        }
      }
      client.disconnect();
    },
  };
}
