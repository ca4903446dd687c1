// Single-use identifiers (repositories/replays.ts) in Redis, shared by every instance using the same
// Redis and REDIS_PREFIX, with the database as the replay cache whenever Redis cannot be checked.
//
// Key: <REDIS_PREFIX>:replay:<id>, the id as the caller gives it (already namespaced and bounded:
// "assertion:<sha256>" from grants/assertion.ts, "dpop:<jkt>:<jti>" from the gateway's DPoP check). Its
// value is the id's expiry (epoch ms); it vanishes from Redis just after that expiry.
//
// Where an id is recorded:
//  - Redis cannot answer (down, failing, slower than STORAGE_COMMAND_TIMEOUT_MS: redis-fallback.ts): in
//    the database alone, which decides, as without Redis. Fail closed: no id is accepted without one
//    shared store having recorded it.
//  - Redis has the id (not expired): a replay, refused without touching the database.
//  - Redis records it now, and it expires within DURABLE_AFTER_MS (a DPoP proof: one per request, 60-120 s
//    by default): Redis alone. No database write per request.
//  - Redis records it now, and it lives longer (an assertion grant's JWT or SAML assertion, minutes to
//    an hour, a few per minute at most): the database records it as well and decides.
//  - Redis records it now, but this instance recorded ids in the database alone (during an outage) that
//    have not expired yet: the database records it as well and decides, so those ids, unknown to Redis,
//    are still refused here after Redis comes back.
// The window this leaves, for ids living at most DURABLE_AFTER_MS only: one recorded in Redis alone is
// unknown to the database, so while Redis is down (or after it restarted without persistence, or evicted
// the key) a replay of it can be accepted once, until it expires; and an id another instance recorded in
// the database alone during an outage can be accepted once by an instance that kept Redis throughout (a
// partition, or the seconds between two instances' reconnections). Writing every id to both closes that
// window and costs every DPoP request a database write (test/storage/redis-cost.ts: about 0.1 ms for
// Redis against 2-8 ms for PostgreSQL per first use); a replay costs one Redis round trip instead of two
// database statements and a unique violation (0.1-0.3 ms instead of 2-20 ms).
import type { Redis } from "ioredis";
import type { Database } from "./database.ts";
import type { RedisConnection } from "./redis.ts";
import { RedisFallback } from "./redis-fallback.ts";
import { ReplayRepository } from "./repositories/replays.ts";
import { storable } from "./repositories/storable.ts";

/**
 * KEYS[1]: the id's key. ARGV[1]: the id's expiry, ARGV[2]: now (epoch ms, the caller's clock, as the
 * database is given). Returns 0 when the id is recorded and not expired (expiry >= now, as the
 * database's), else records it until its expiry and returns 1. An id already expired is not kept
 * (the database would accept it every time too).
 */
const FIRST_USE = `
local now = tonumber(ARGV[2])
local recorded = tonumber(redis.call('GET', KEYS[1]))
if recorded ~= nil and recorded >= now then return 0 end
local ttl = math.ceil(tonumber(ARGV[1]) - now) + 1
if ttl >= 1 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('DEL', KEYS[1]) end
return 1
`;

/** Ids living longer than this after their first use (ms) are recorded in the database too (see the file's comment). */
export const DURABLE_AFTER_MS = 300_000;

interface ReplayScripts extends Redis {
  gatehouseReplayFirstUse(key: string, expiresAt: string, now: string): Promise<number>;
}

/**
 * The replay cache in Redis, the database standing in (see the file's comment). Same interface and, but
 * for the window described there, the same answers as ReplayRepository; never rejects because of Redis.
 */
export class RedisReplayRepository extends ReplayRepository {
  readonly #connection: RedisConnection;
  readonly #client: ReplayScripts;
  readonly #fallback: RedisFallback;
  /** Until when (epoch ms) ids this instance recorded in the database alone may be replayed: the database decides until then. */
  #databaseUntil = 0;

  /** @param connection shared with other repositories; not closed here */
  constructor(db: Database, connection: RedisConnection) {
    super(db);
    this.#connection = connection;
    this.#client = connection.client as ReplayScripts;
    this.#client.defineCommand("gatehouseReplayFirstUse", { numberOfKeys: 1, lua: FIRST_USE });
    this.#fallback = new RedisFallback(connection, "replays");
  }

  /**
   * Records the first use of `id` until `expiresAt`; false when it was used before and has not expired
   * (an id expires once `now` is past `expiresAt`), or cannot be stored (storable.ts). Concurrent calls
   * with one id on any number of instances: at most one gets true.
   * @throws the database's error when the database cannot record a first use it must record (the id is
   * then forgotten by Redis again, best effort, so that a retry is not refused as a replay)
   */
  override async firstUse(id: string, expiresAt: Date, now = new Date()): Promise<boolean> {
    if (!storable(id)) return false;
    const key = this.#connection.key(`replay:${id}`);
    const inRedis = await this.#fallback.attempt(
      async () => ((await this.#client.gatehouseReplayFirstUse(key, String(expiresAt.getTime()), String(now.getTime()))) === 1 ? "recorded" : "replay"),
      async () => "unchecked" as const,
    );
    if (inRedis === "replay") return false;
    if (inRedis === "recorded" && expiresAt.getTime() - now.getTime() <= DURABLE_AFTER_MS && now.getTime() >= this.#databaseUntil) return true;
    if (inRedis === "unchecked") this.#databaseUntil = Math.max(this.#databaseUntil, expiresAt.getTime());
    try {
      return await super.firstUse(id, expiresAt, now);
    } catch (error) {
      if (inRedis === "recorded") await this.#client.del(key).catch(() => undefined);
      throw error;
    }
  }
}
