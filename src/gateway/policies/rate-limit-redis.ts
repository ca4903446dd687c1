// Rate limits counted in Redis (REDIS_URL), shared by every gateway process and instance: the same GCRA
// bucket as the memory store (rate-limit-store.ts) — the same LimitSpec, the same allowed / remaining /
// resetSeconds for the same sequence of requests, the same refund — with the partition's theoretical
// arrival time (TAT) kept in Redis. Each take() is one round trip: a Lua script (ioredis defineCommand,
// EVALSHA) that reads the TAT, decides, and writes the new TAT with a PEXPIRE of how long until the
// bucket is full again, atomically, on the Redis server's clock (TIME), so the instances' clocks do not
// matter and an idle partition leaves no key behind.
//
// Redis is never a reason to refuse or fail a request. While it is down, or when a command fails or
// takes longer than COMMAND_TIMEOUT_MS, each limit counts in a local MemoryRateLimitStore (per instance,
// as without Redis), and a command that timed out makes the store count locally for SUSPEND_MS before
// trying Redis again (so a slow Redis does not add its timeout to every request). Once the connection is
// back the counts are Redis's again, by themselves.
//
// Keys: <REDIS_PREFIX>:rl:<limit key>:<partition>, a partition longer than MAX_PARTITION_CHARS (or
// starting with #) replaced by # and its SHA-256 (so keys stay bounded whatever the caller sends).
import crypto from "node:crypto";
import type { Redis } from "ioredis";
import { log } from "../../shared/logger.ts";
import { openRedis, type RedisConnection } from "../../storage/redis.ts";
import { fillOutcome, MemoryRateLimitStore, type Limiter, type LimitOutcome, type LimitSpec, type MemoryStoreOptions, type RateLimitStore } from "./rate-limit-store.ts";

/** Longest wait for Redis's answer to one take() or refund(), in milliseconds; then the local count answers. */
export const COMMAND_TIMEOUT_MS = 50;
/** After a command failed or timed out, how long every limit counts locally before Redis is tried again, in milliseconds. */
export const SUSPEND_MS = 1000;
/** Partitions longer than this (in UTF-16 code units) are keyed by their hash. */
export const MAX_PARTITION_CHARS = 64;

/**
 * KEYS[1]: the partition's TAT key. ARGV[1]: the interval (ms per request, possibly fractional),
 * ARGV[2]: the tolerance ((burst - 1) intervals, ms). Returns {1, ahead} when the request is allowed
 * (and counted), {0, ahead} when refused; ahead = max(TAT, now) - now before this request, in ms, as a
 * string (Lua numbers become integers in replies). Numbers are written with %.17g: the exact double.
 */
const TAKE = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
  return {0, string.format('%.17g', ahead)}
end
local later = tat + interval
redis.call('SET', KEYS[1], string.format('%.17g', later), 'PX', math.ceil(later - now))
return {1, string.format('%.17g', ahead)}
`;

/**
 * KEYS[1]: the partition's TAT key. ARGV[1]: the interval (ms). Gives one request back: the TAT moves
 * back by one interval; the key goes when its bucket is then full. Returns nothing useful.
 */
const REFUND = `
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local back = tat - tonumber(ARGV[1])
if back <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.17g', back), 'PX', math.ceil(back - now))
end
return 1
`;

interface ScriptedRedis extends Redis {
  gatehouseRateLimitTake(key: string, interval: string, tolerance: string): Promise<[number, string]>;
  gatehouseRateLimitRefund(key: string, interval: string): Promise<number>;
}

export interface RedisStoreOptions {
  /** The connection to count in; the store does not close one it was given. */
  connection?: RedisConnection;
  /** The local store's options, for while Redis is unavailable. */
  fallback?: MemoryStoreOptions;
}

/** The outcome of a request whose TAT was `ahead` ms after now, as every store computes it (fillOutcome). */
function outcomeOf(allowed: boolean, ahead: number, interval: number, tolerance: number): LimitOutcome {
  return fillOutcome({ allowed, remaining: 0, resetSeconds: 0 }, allowed, ahead, interval, tolerance);
}

class RedisLimiter implements Limiter {
  readonly #store: RedisRateLimitStore;
  readonly #client: ScriptedRedis;
  readonly #local: Limiter;
  /** `<prefix>:rl:<limit key>:`. */
  readonly #base: string;
  readonly #intervalNumber: number;
  readonly #toleranceNumber: number;
  readonly #interval: string;
  readonly #tolerance: string;

  constructor(store: RedisRateLimitStore, client: ScriptedRedis, base: string, spec: LimitSpec, local: Limiter) {
    this.#store = store;
    this.#client = client;
    this.#base = base;
    this.#local = local;
    this.#intervalNumber = spec.windowMs / spec.requests;
    this.#toleranceNumber = (spec.burst - 1) * this.#intervalNumber;
    this.#interval = String(this.#intervalNumber);
    this.#tolerance = String(this.#toleranceNumber);
  }

  #key(partition: string): string {
    // One starting with # is hashed too, so no partition can take a hashed one's key.
    if (partition.length <= MAX_PARTITION_CHARS && partition.charCodeAt(0) !== 35) return this.#base + partition;
    return `${this.#base}#${crypto.createHash("sha256").update(partition).digest("base64url")}`;
  }

  /**
   * Counts one request of the partition in Redis (one round trip), or locally (synchronously) while
   * Redis is unavailable. `now` (ms) is used by the local count only; Redis uses its own clock. Never rejects.
   */
  take(partition: string, now: number): LimitOutcome | Promise<LimitOutcome> {
    if (!this.#store.usable(now)) return this.#local.take(partition, now);
    return this.#client.gatehouseRateLimitTake(this.#key(partition), this.#interval, this.#tolerance).then(
      ([allowed, ahead]) => outcomeOf(allowed === 1, Number(ahead), this.#intervalNumber, this.#toleranceNumber),
      (error: unknown) => {
        this.#store.failed(error);
        // A copy: the memory limiter reuses its outcome object, and other takes may run before this one is read.
        return { ...(this.#local.take(partition, Date.now()) as LimitOutcome) };
      },
    );
  }

  /**
   * Gives a request back where requests count now (Redis, or the local count while it is unavailable).
   * Never rejects: a refund that cannot be made is dropped (the caller was counted once too often).
   */
  refund(partition: string): void | Promise<void> {
    if (!this.#store.usable(Date.now())) return this.#local.refund(partition);
    return this.#client.gatehouseRateLimitRefund(this.#key(partition), this.#interval).then(
      () => undefined,
      (error: unknown) => this.#store.failed(error),
    );
  }
}

/**
 * Counts rate limits in Redis, shared by every instance that uses the same Redis and REDIS_PREFIX, and
 * locally while Redis is unavailable (see the file's comment). Opens its own connection from `url` and
 * `prefix` (REDIS_URL, REDIS_PREFIX) unless options.connection is given. Neither the constructor nor
 * any limiter throws or rejects because of Redis.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #connection: RedisConnection;
  readonly #owned: boolean;
  readonly #client: ScriptedRedis;
  readonly #local: MemoryRateLimitStore;
  readonly #limiters = new Map<string, RedisLimiter>();
  /** Until when (ms, Date.now()) limits count locally after a failed command. */
  #suspendedUntil = 0;

  constructor(url: string, prefix: string, options: RedisStoreOptions = {}) {
    this.#owned = !options.connection;
    this.#connection = options.connection ?? openRedis(url, prefix, { commandTimeoutMs: COMMAND_TIMEOUT_MS, purpose: "rate limits" });
    this.#client = this.#connection.client as ScriptedRedis;
    this.#client.defineCommand("gatehouseRateLimitTake", { numberOfKeys: 1, lua: TAKE });
    this.#client.defineCommand("gatehouseRateLimitRefund", { numberOfKeys: 1, lua: REFUND });
    this.#local = new MemoryRateLimitStore(options.fallback);
  }

  /** The limiter of one limit (see RateLimitStore.limiter); its local stand-in is the memory store's limiter for the same key and spec. */
  limiter(key: string, spec: LimitSpec): Limiter {
    const local = this.#local.limiter(key, spec);
    const id = `${key}\n${spec.requests}/${spec.windowMs}/${spec.burst}`;
    let limiter = this.#limiters.get(id);
    if (!limiter) {
      limiter = new RedisLimiter(this, this.#client, this.#connection.key(`rl:${key}:`), spec, local);
      this.#limiters.set(id, limiter);
    }
    return limiter;
  }

  /** A configuration is about to be compiled: limiters are forgotten (they hold no count; Redis and the local store do). */
  release(): void {
    this.#limiters.clear();
    this.#local.release();
  }

  /** Whether a command may be sent to Redis now (`now` in ms): connected, and not just after a failure. */
  usable(now: number): boolean {
    return this.#connection.isReady() && now >= this.#suspendedUntil;
  }

  /** A command failed or timed out: count locally for SUSPEND_MS. (A lost connection is logged by the connection.) */
  failed(error: unknown): void {
    if (!this.#connection.isReady()) return;
    this.#suspendedUntil = Date.now() + SUSPEND_MS;
    log.warn("rate limits counted locally: redis command failed", { error: error instanceof Error ? error.message : String(error), suspendedMs: SUSPEND_MS });
  }

  /** Stops the local store's timer and closes the connection the store opened. Never rejects. */
  async close(): Promise<void> {
    this.#local.close();
    this.#limiters.clear();
    if (this.#owned) await this.#connection.close();
  }
}
