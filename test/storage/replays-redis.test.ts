// The replay cache (single-use assertion ids, DPoP proofs' jti) with and without Redis
// (storage/redis-replays.ts), against real Redis and real databases: the same answers either way, shared
// by two instances; long-lived ids never accepted twice across a Redis outage, a Redis restart that
// forgot everything, or a stall; short-lived ones refused by the database while Redis is down and after
// it comes back, with the window the file's comment describes.
import crypto from "node:crypto";
import { Redis } from "ioredis";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { DURABLE_AFTER_MS } from "../../src/storage/redis-replays.ts";
import { BACKENDS, freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { freePort } from "../helpers/gatehouse.ts";
import { PrivateRedis, until } from "../helpers/redis.ts";

const SHARED_REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** These tests compare what Redis holds: a busy machine must not send a slow call to the database (the fallback has tests of its own). */
const PATIENT_MS = 5_000;
const uniquePrefix = () => `test-replays-${crypto.randomBytes(4).toString("hex")}`;
const newId = () => `assertion:${crypto.randomBytes(12).toString("base64url")}`;
/** A DPoP proof's lifetime: recorded in Redis alone. */
const inAMinute = () => new Date(Date.now() + 60_000);
/** An assertion's lifetime: recorded in the database as well. */
const inAnHour = () => new Date(Date.now() + 3_600_000);

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(`${prefix}:*`);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

const CASES: Array<[Backend, "database only" | "redis"]> = BACKENDS.flatMap((backend) => [
  [backend, "database only"],
  [backend, "redis"],
]);

describe.each(CASES)("replays on %s, %s", (backend, backing) => {
  let db: FreshDatabase;
  let storage: Storage;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    db = await freshDatabase(backend);
    storage = await openStorage(db.url, backing === "redis" ? { redis: { url: SHARED_REDIS, prefix, storageCommandTimeoutMs: PATIENT_MS } } : {});
  });
  afterAll(async () => {
    await storage?.close();
    await deleteKeys(SHARED_REDIS, prefix);
    await db?.drop();
  });

  test.each([60_000, 3_600_000])("first use, replay, reuse once expired (living %d ms)", async (lifetime) => {
    const id = newId();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + lifetime);
    expect(await storage.replays.firstUse(id, expiresAt, now)).toBe(true);
    expect(await storage.replays.firstUse(id, expiresAt, now)).toBe(false);
    // Still known at its expiry, forgotten after it.
    expect(await storage.replays.firstUse(id, expiresAt, expiresAt)).toBe(false);
    const later = new Date(expiresAt.getTime() + 1);
    expect(await storage.replays.firstUse(id, new Date(later.getTime() + lifetime), later)).toBe(true);
    expect(await storage.replays.firstUse(id, new Date(later.getTime() + lifetime), later)).toBe(false);
  });

  test("an id already expired is accepted every time; an unstorable one never", async () => {
    const id = newId();
    const past = new Date(Date.now() - 1000);
    expect(await storage.replays.firstUse(id, past)).toBe(true);
    expect(await storage.replays.firstUse(id, past)).toBe(true);
    expect(await storage.replays.firstUse(`issuer \u0000 ${newId()}`, inAMinute())).toBe(false);
  });

  test.each([60_000, 3_600_000])("20 concurrent uses of one id: exactly one is first (living %d ms)", async (lifetime) => {
    const id = newId();
    const expiresAt = new Date(Date.now() + lifetime);
    const results = await Promise.all(Array.from({ length: 20 }, () => storage.replays.firstUse(id, expiresAt)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe("replays in Redis, two instances on one PostgreSQL database", () => {
  let db: FreshDatabase;
  let first: Storage;
  let second: Storage;
  let plain: Storage;
  let probe: Redis;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    first = await openStorage(db.url, { redis: { url: SHARED_REDIS, prefix, storageCommandTimeoutMs: PATIENT_MS } });
    second = await openStorage(db.url, { migrate: false, redis: { url: SHARED_REDIS, prefix, storageCommandTimeoutMs: PATIENT_MS } });
    plain = await openStorage(db.url, { migrate: false });
    probe = new Redis(SHARED_REDIS);
  });
  afterAll(async () => {
    probe?.disconnect();
    await Promise.all([first?.close(), second?.close(), plain?.close()]);
    await deleteKeys(SHARED_REDIS, prefix);
    await db?.drop();
  });

  test("an id used on one is refused on the other; 20 concurrent uses through both: one first", async () => {
    const id = newId();
    expect(await first.replays.firstUse(id, inAMinute())).toBe(true);
    expect(await second.replays.firstUse(id, inAMinute())).toBe(false);
    const shared = newId();
    const expiresAt = inAMinute();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? first : second).replays.firstUse(shared, expiresAt)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("a short-lived id is recorded in Redis alone", async () => {
    const id = newId();
    const expiresAt = new Date(Date.now() + DURABLE_AFTER_MS);
    expect(await first.replays.firstUse(id, expiresAt)).toBe(true);
    expect(await probe.get(`${prefix}:replay:${id}`)).toBe(String(expiresAt.getTime()));
    expect(await second.replays.firstUse(id, expiresAt)).toBe(false);
    // The database never saw it.
    expect(await plain.replays.firstUse(id, expiresAt)).toBe(true);
  });

  test("a long-lived id is recorded in both; Redis alone refuses a replay, the database alone too", async () => {
    const id = newId();
    const expiresAt = new Date(Date.now() + DURABLE_AFTER_MS + 1000);
    expect(await first.replays.firstUse(id, expiresAt)).toBe(true);
    const pttl = await probe.pttl(`${prefix}:replay:${id}`);
    expect(pttl).toBeGreaterThan(DURABLE_AFTER_MS - 5000);
    expect(pttl).toBeLessThanOrEqual(DURABLE_AFTER_MS + 1001);
    expect(await probe.get(`${prefix}:replay:${id}`)).toBe(String(expiresAt.getTime()));
    // The database without Redis knows it.
    expect(await plain.replays.firstUse(id, expiresAt)).toBe(false);
    // Redis forgot it (a restart without persistence, an eviction): the database still refuses it.
    await probe.del(`${prefix}:replay:${id}`);
    expect(await second.replays.firstUse(id, expiresAt)).toBe(false);
    // The database forgot it (as if only Redis had recorded it): Redis refuses it.
    expect(await plain.replays.purge(new Date(Date.now() + 3_600_000))).toBeGreaterThan(0);
    expect(await first.replays.firstUse(id, expiresAt)).toBe(false);
  });
});

describe("replays while Redis is down or stalled", () => {
  let redis: PrivateRedis;
  let db: FreshDatabase;
  let storage: Storage;
  let other: Storage;
  let probe: Redis;
  const prefix = uniquePrefix();
  const inRedis = (id: string) => probe.exists(`${prefix}:replay:${id}`).then((n) => n === 1, () => false);

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    db = await freshDatabase("postgresql");
    storage = await openStorage(db.url, { redis: { url: redis.url, prefix } });
    other = await openStorage(db.url, { migrate: false, redis: { url: redis.url, prefix } });
    probe = new Redis(redis.url, { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on("error", () => undefined);
  });
  afterAll(async () => {
    probe?.disconnect();
    await Promise.all([storage?.close(), other?.close()]);
    await redis?.stop();
    await db?.drop();
  });

  test("down: the database is the replay cache; back (having forgotten everything): Redis is used again, and ids first used during the outage are still refused", async () => {
    const long = newId();
    const short = newId();
    expect(await storage.replays.firstUse(long, inAnHour())).toBe(true);
    expect(await storage.replays.firstUse(short, inAMinute())).toBe(true);
    expect(await inRedis(long)).toBe(true);
    await redis.stop();
    // Long-lived, used before the outage: still refused, on either instance (the database has it).
    expect(await storage.replays.firstUse(long, inAnHour())).toBe(false);
    expect(await other.replays.firstUse(long, inAnHour())).toBe(false);
    // Short-lived, used before the outage: the window, accepted once (the database records it now).
    expect(await other.replays.firstUse(short, inAMinute())).toBe(true);
    expect(await storage.replays.firstUse(short, inAMinute())).toBe(false);
    // First used during the outage: refused when replayed, on either instance.
    const during = newId();
    expect(await storage.replays.firstUse(during, inAMinute())).toBe(true);
    expect(await other.replays.firstUse(during, inAMinute())).toBe(false);
    // Back, empty (no persistence): used again, by itself.
    await redis.start();
    await until(async () => {
      await storage.replays.firstUse(newId(), inAMinute());
      return (await probe.dbsize()) > 0;
    });
    const after = newId();
    expect(await storage.replays.firstUse(after, inAMinute())).toBe(true);
    expect(await inRedis(after)).toBe(true);
    expect(await other.replays.firstUse(after, inAMinute())).toBe(false);
    // Unknown to Redis, but both instances recorded ids in the database during the outage: it decides.
    for (const id of [long, short, during]) {
      expect(await storage.replays.firstUse(id, inAMinute())).toBe(false);
      expect(await other.replays.firstUse(id, inAMinute())).toBe(false);
    }
  }, 30_000);

  test("stalled past the command timeout: the database decides, and once Redis answers again nothing is accepted twice", async () => {
    await until(async () => (await probe.ping().catch(() => "")) === "PONG");
    await probe.call("CLIENT", "PAUSE", "1000", "ALL");
    const id = newId();
    expect(await storage.replays.firstUse(id, inAMinute())).toBe(true);
    expect(await storage.replays.firstUse(id, inAMinute())).toBe(false);
    await until(async () => {
      await storage.replays.firstUse(newId(), inAMinute());
      return (await probe.ping().catch(() => "")) === "PONG";
    });
    expect(await storage.replays.firstUse(id, inAMinute())).toBe(false);
    expect(await other.replays.firstUse(id, inAMinute())).toBe(false);
  }, 30_000);
});
