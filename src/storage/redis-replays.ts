// Single-use identifiers (repositories/replays.ts) checked in Redis first, recorded in the database too.
//
// Key: <REDIS_PREFIX>:replay:<id>, the id as the caller gives it (already namespaced and bounded:
// grants/assertion.ts passes "assertion:" and a SHA-256). Its value is the assertion's expiry (epoch ms)
// and it vanishes from Redis just after that expiry.
//
// Why both: a replay cache must never forget an id before it expires, and Redis alone can: it is down
// for a while (an instance then checks the database only, where ids recorded only in Redis before the
// outage are unknown, so a captured assertion could be replayed during the outage), it restarts without
// persistence or evicts keys under memory pressure (every id is forgotten), or one instance loses it
// while others do not (each then checks a different cache). So Redis is a front, the database the record:
//  - Redis has the id (not expired): a replay, refused without touching the database.
//  - Redis records it now: the database records it as well (the same statements as without Redis) and
//    decides: an id first used while Redis was down, unknown to Redis, is still refused.
//  - Redis cannot answer (down, failing, slower than STORAGE_COMMAND_TIMEOUT_MS: redis-fallback.ts):
//    the database alone decides, as without Redis.
// A first use therefore costs a Redis round trip more than without Redis (about 0.1-0.2 ms beside the
// database's 4-8 ms: test/storage/redis-cost.ts), and a replay one Redis round trip instead of two
// database statements and a unique violation (0.1-0.3 ms instead of 2-20 ms); no id is accepted twice
// before it expires, exactly as without Redis. (Redis alone would save the database write, at the price above.)
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

interface ReplayScripts extends Redis {
  gatehouseReplayFirstUse(key: string, expiresAt: string, now: string): Promise<number>;
}

/**
 * The replay cache with Redis in front of the database (see the file's comment). Same interface and
 * answers as ReplayRepository; never rejects because of Redis.
 */
export class RedisReplayRepository extends ReplayRepository {
  readonly #connection: RedisConnection;
  readonly #client: ReplayScripts;
  readonly #fallback: RedisFallback;

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
   * @throws the database's error when the database cannot record a first use (the id is then forgotten
   * by Redis again, best effort, so that a retry is not refused as a replay)
   */
  override async firstUse(id: string, expiresAt: Date, now = new Date()): Promise<boolean> {
    if (!storable(id)) return false;
    const key = this.#connection.key(`replay:${id}`);
    const inRedis = await this.#fallback.attempt(
      async () => ((await this.#client.gatehouseReplayFirstUse(key, String(expiresAt.getTime()), String(now.getTime()))) === 1 ? "recorded" : "replay"),
      async () => "unchecked" as const,
    );
    if (inRedis === "replay") return false;
    try {
      return await super.firstUse(id, expiresAt, now);
    } catch (error) {
      if (inRedis === "recorded") await this.#client.del(key).catch(() => undefined);
      throw error;
    }
  }
}
