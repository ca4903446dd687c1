// Password-attempt counters (repositories/throttles.ts) kept in Redis, shared by every instance using
// the same Redis and REDIS_PREFIX, with the database answering while Redis cannot (redis-fallback.ts).
//
// Key: <REDIS_PREFIX>:throttle:<counter key>, a hash with the columns of a LoginThrottle row: f (failures),
// at (lastAt), fat (lastFailureAt), lu (lockedUntil), ls (lockSeconds); times in epoch ms on the caller's
// clock (the `now` every method takes, as the database is given). reserve, recordFailure and release are
// each one Lua script, run atomically by Redis, computing exactly what the SQL statements compute. A key
// expires (PEXPIRE) once its state can no longer differ from no key at all: its lock has ended, the
// counter has been idle for the policy's resetSeconds (the next attempt starts from zero either way) and
// a quick failure can no longer follow; plus IDLE_MARGIN_MS for clock differences between instances. So
// Redis needs no purge, and holds one key per counter in use.
//
// The locks in force are also indexed: <REDIS_PREFIX>:throttle-locks, a sorted set of the counters' keys
// by the end of their last lock, written by the scripts that lock, trimmed of the locks that have ended,
// expiring with the last one. locked() (an administrator's look, the console's user list) reads it and
// confirms each lock from its counter, so it costs the same whatever else the Redis holds; clearPrefix
// (an administrator's unlock, rare) SCANs the deployment's keys.
//
// While Redis is down (or for SUSPEND_MS after a failed command) the database counts, from what it held
// before (nothing, or what an earlier outage left there); when Redis is back, Redis counts again from
// what it held. The two stores count separately, each locking by the policy on its own: an attacker
// whose attempts fall on both gets at most twice the attempts before a lock (more only when Redis comes
// back empty, after a restart without persistence), and a lock set in one store is not seen while the
// other counts. A command that timed out may still have run in Redis: that attempt is then counted in
// both (never in neither). clear() (every successful sign-in) deletes the key where counts are kept at
// that moment; clearPrefix (an administrator's unlock) deletes in both (in Redis when it answers).
import type { Redis } from "ioredis";
import type { Database, DatabaseKind } from "./database.ts";
import type { RedisConnection } from "./redis.ts";
import { RedisFallback } from "./redis-fallback.ts";
import { ThrottleRepository, type Reservation, type ThrottlePolicy } from "./repositories/throttles.ts";

/** Added to how long an idle counter is kept, in milliseconds: instances' clocks differ a little. */
export const IDLE_MARGIN_MS = 1000;
/** Keys asked for per SCAN step (clearPrefix). */
const SCAN_COUNT = 1000;

/**
 * Shared by every script: KEYS[1] is the counter, KEYS[2] the index of locks, ARGV[1] now (ms). load()
 * returns the hash as numbers (nil when there is no key); save(s, resetMs, quickMs) writes it, makes the
 * key live at least until it could matter (never shortening its life: release, which takes no `now`,
 * keeps it) and indexes a lock in force.
 */
const PRELUDE = `
local key = KEYS[1]
local locks = KEYS[2]
local now = tonumber(ARGV[1])
local function load()
  local v = redis.call('HMGET', key, 'f', 'at', 'fat', 'lu', 'ls')
  if not v[1] then return nil end
  return { f = tonumber(v[1]), at = tonumber(v[2]), fat = tonumber(v[3]), lu = tonumber(v[4]), ls = tonumber(v[5]) }
end
local function fmt(n) return string.format('%.17g', n) end
local function save(s, resetMs, quickMs)
  redis.call('HSET', key, 'f', fmt(s.f), 'at', fmt(s.at), 'fat', fmt(s.fat), 'lu', fmt(s.lu), 'ls', fmt(s.ls))
  if resetMs == nil then return end
  local ttl = math.ceil(math.max(s.at + resetMs + 1, s.lu, s.fat + quickMs) - now) + ${IDLE_MARGIN_MS}
  if ttl > redis.call('PTTL', key) then redis.call('PEXPIRE', key, ttl) end
  if s.lu > now then
    redis.call('ZREMRANGEBYSCORE', locks, '-inf', fmt(now - ${IDLE_MARGIN_MS}))
    redis.call('ZADD', locks, fmt(s.lu), key)
    local ends = math.ceil(s.lu - now) + ${IDLE_MARGIN_MS}
    if ends > redis.call('PTTL', locks) then redis.call('PEXPIRE', locks, ends) end
  end
end
`;

/**
 * ARGV[2] forget-before (now - resetSeconds * 1000), [3] maxFailures, [4] firstLockSeconds,
 * [5] maxLockSeconds, [6] resetSeconds * 1000, [7] quickFailureMs. The SQL's ensure + reserve.
 * Returns {1} when the attempt is counted, {0, lockedUntil} when the key is locked (nothing counted).
 */
const RESERVE = `${PRELUDE}
local forgetBefore, maxFailures, first, longest = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local s = load() or { f = 0, at = now, fat = 0, lu = 0, ls = 0 }
if s.lu > now then return {0, fmt(s.lu)} end
local fresh = s.at < forgetBefore
local failures = fresh and 1 or s.f + 1
local previous = fresh and 0 or s.ls
local doubled = previous * 2
if doubled < first then doubled = first elseif doubled > longest then doubled = longest end
if failures >= maxFailures then
  s.ls = doubled
  s.lu = now + doubled * 1000
else
  s.ls = previous
  s.lu = 0
end
s.f = failures
if fresh then s.fat = 0 end
s.at = now
save(s, tonumber(ARGV[6]), tonumber(ARGV[7]))
return {1}
`;

/** ARGV[2] quickFailureMs, [3] firstLockSeconds, [4] resetSeconds * 1000. The SQL's recordFailure; no key: nothing. */
const RECORD_FAILURE = `${PRELUDE}
local quick, first = tonumber(ARGV[2]), tonumber(ARGV[3])
local s = load()
if not s then return 0 end
local quickLockEnds = now + first * 1000
if quick > 0 and s.fat > now - quick and s.lu < quickLockEnds then s.lu = quickLockEnds end
s.fat = now
save(s, tonumber(ARGV[4]), quick)
return 1
`;

/** ARGV[1] unused (release takes no now), [2] maxFailures. The SQL's release; no key: nothing. */
const RELEASE = `${PRELUDE}
local maxFailures = tonumber(ARGV[2])
local s = load()
if not s then return 0 end
if s.f > maxFailures then s.f = maxFailures - 1 elseif s.f > 0 then s.f = s.f - 1 else s.f = 0 end
s.lu = 0
save(s)
return 1
`;

interface ThrottleScripts extends Redis {
  gatehouseThrottleReserve(key: string, locks: string, ...args: string[]): Promise<[number, string?]>;
  gatehouseThrottleRecordFailure(key: string, locks: string, ...args: string[]): Promise<number>;
  gatehouseThrottleRelease(key: string, locks: string, ...args: string[]): Promise<number>;
}

/** A SCAN MATCH pattern matching exactly the names starting with `text`: glob characters escaped. */
export function globPrefix(text: string): string {
  return `${text.replace(/[*?[\]\\]/g, "\\$&")}*`;
}

/**
 * The password-attempt counters in Redis, the database standing in while Redis cannot answer (see the
 * file's comment). Same interface and, for the same calls, the same answers as ThrottleRepository.
 * Never rejects because of Redis; rejects with the database's error when the database answers and fails.
 */
export class RedisThrottleRepository extends ThrottleRepository {
  readonly #connection: RedisConnection;
  readonly #client: ThrottleScripts;
  readonly #fallback: RedisFallback;
  /** The index of locks in force (see the file's comment). */
  readonly #locks: string;

  /** @param connection shared with other repositories; not closed here */
  constructor(db: Database, kind: DatabaseKind, connection: RedisConnection) {
    super(db, kind);
    this.#connection = connection;
    this.#client = connection.client as ThrottleScripts;
    this.#client.defineCommand("gatehouseThrottleReserve", { numberOfKeys: 2, lua: RESERVE });
    this.#client.defineCommand("gatehouseThrottleRecordFailure", { numberOfKeys: 2, lua: RECORD_FAILURE });
    this.#client.defineCommand("gatehouseThrottleRelease", { numberOfKeys: 2, lua: RELEASE });
    this.#locks = connection.key("throttle-locks");
    this.#fallback = new RedisFallback(connection, "throttles");
  }

  #key(key: string): string {
    return this.#connection.key(`throttle:${key}`);
  }

  /** See ThrottleRepository.reserve; `now` in epoch ms. One round trip. */
  override reserve(key: string, policy: ThrottlePolicy, now = Date.now()): Promise<Reservation> {
    const resetMs = policy.resetSeconds * 1000;
    return this.#fallback.attempt(
      async () => {
        const args = [now, now - resetMs, policy.maxFailures, policy.firstLockSeconds, policy.maxLockSeconds, resetMs, policy.quickFailureMs];
        const [allowed, lockedUntil] = await this.#client.gatehouseThrottleReserve(this.#key(key), this.#locks, ...args.map(String));
        return allowed === 1 ? { allowed: true } : { allowed: false, lockedUntil: new Date(Number(lockedUntil)) };
      },
      () => super.reserve(key, policy, now),
    );
  }

  /** See ThrottleRepository.recordFailure; `now` in epoch ms. One round trip. */
  override async recordFailure(key: string, policy: ThrottlePolicy, now = Date.now()): Promise<void> {
    const args = [now, policy.quickFailureMs, policy.firstLockSeconds, policy.resetSeconds * 1000];
    await this.#fallback.attempt(
      async () => void (await this.#client.gatehouseThrottleRecordFailure(this.#key(key), this.#locks, ...args.map(String))),
      () => super.recordFailure(key, policy, now),
    );
  }

  /** See ThrottleRepository.release. One round trip. */
  override async release(key: string, policy: ThrottlePolicy): Promise<void> {
    await this.#fallback.attempt(
      async () => void (await this.#client.gatehouseThrottleRelease(this.#key(key), this.#locks, "0", String(policy.maxFailures))),
      () => super.release(key, policy),
    );
  }

  /** See ThrottleRepository.clear: deletes the key where counters are kept now. */
  override async clear(key: string): Promise<void> {
    await this.#fallback.attempt(
      async () => void (await this.#client.del(this.#key(key))),
      () => super.clear(key),
    );
  }

  /**
   * Forgets every key starting with prefix, in Redis (SCAN, rare: an administrator's unlock) and in the
   * database, so that an unlock also holds for counts kept there during an outage.
   * @returns how many counters were deleted, both stores together
   */
  override async clearPrefix(prefix: string): Promise<number> {
    const inRedis = await this.#fallback.attempt(
      async () => {
        let deleted = 0;
        for await (const keys of this.#scan(prefix)) deleted += keys.length > 0 ? await this.#client.unlink(...keys) : 0;
        return deleted;
      },
      async () => 0,
    );
    return inRedis + (await super.clearPrefix(prefix));
  }

  /** See ThrottleRepository.lockedUntil; `now` in epoch ms. */
  override lockedUntil(key: string, now = Date.now()): Promise<number> {
    return this.#fallback.attempt(
      async () => {
        const lockedUntil = Number(await this.#client.hget(this.#key(key), "lu"));
        return lockedUntil > now ? lockedUntil : 0;
      },
      () => super.lockedUntil(key, now),
    );
  }

  /**
   * See ThrottleRepository.locked; `now` in epoch ms. Two round trips: the index of locks ending after
   * now, then each counter starting with prefix, whose own lockedUntil decides.
   */
  override locked(prefix: string, now = Date.now()): Promise<Array<{ key: string; lockedUntil: Date; failures: number }>> {
    return this.#fallback.attempt(
      async () => {
        const start = this.#key(prefix);
        const keys = (await this.#client.zrangebyscore(this.#locks, `(${now}`, "+inf")).filter((key) => key.startsWith(start));
        if (keys.length === 0) return [];
        const pipeline = this.#client.pipeline();
        for (const key of keys) pipeline.hmget(key, "lu", "f");
        const replies = (await pipeline.exec()) ?? [];
        const base = this.#key("").length;
        return replies.flatMap(([error, value], i) => {
          if (error) throw error;
          const [lockedUntil, failures] = (value as Array<string | null>).map(Number) as [number, number];
          return lockedUntil > now ? [{ key: keys[i]!.slice(base), lockedUntil: new Date(lockedUntil), failures }] : [];
        });
      },
      () => super.locked(prefix, now),
    );
  }

  /** The Redis keys of the counters whose names start with prefix, a batch at a time (SCAN: may repeat a key, never misses one present throughout). */
  async *#scan(prefix: string): AsyncGenerator<string[]> {
    const pattern = globPrefix(this.#key(prefix));
    let cursor = "0";
    do {
      const [next, keys] = await this.#client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
      cursor = next;
      yield keys;
    } while (cursor !== "0");
  }
}
