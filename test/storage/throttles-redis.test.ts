// Password-attempt counters kept in Redis (storage/redis-throttles.ts), against real Redis and real
// databases: the same answers as the SQL for the same calls (a long scripted sequence run on both, side by
// side), shared by two instances, idle keys expiring by themselves, and the database answering while
// Redis is down or stalled, Redis counting again once it is back.
import crypto from "node:crypto";
import { Redis } from "ioredis";
import { PasswordThrottle, type ThrottleSettings } from "../../src/authorization-server/credentials/throttle.ts";
import { throttleKeys } from "../../src/shared/throttle-keys.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { STORAGE_COMMAND_TIMEOUT_MS } from "../../src/storage/redis-fallback.ts";
import { IDLE_MARGIN_MS, globPrefix } from "../../src/storage/redis-throttles.ts";
import type { ThrottlePolicy } from "../../src/storage/repositories/throttles.ts";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort } from "../helpers/gatehouse.ts";
import { PrivateRedis, until } from "../helpers/redis.ts";

const SHARED_REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** These tests compare what Redis holds: a busy machine must not send a slow call to the database (the fallback has tests of its own). */
const PATIENT_MS = 5_000;
/** A prefix of this test's own on the shared Redis, with glob characters in it (SCAN patterns escape them). */
const uniquePrefix = () => `test-throttles-[${crypto.randomBytes(4).toString("hex")}]*?`;

const PAIR: ThrottlePolicy = { maxFailures: 3, firstLockSeconds: 60, maxLockSeconds: 300, resetSeconds: 3600, quickFailureMs: 500 };
const CEILING: ThrottlePolicy = { maxFailures: 5, firstLockSeconds: 900, maxLockSeconds: 900, resetSeconds: 600, quickFailureMs: 0 };

/** A deterministic pseudo-random sequence (mulberry32), so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(globPrefix(`${prefix}:`));
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

describe.each(BACKENDS)("throttles in Redis and in %s answer alike", (backend) => {
  let plainDb: FreshDatabase;
  let redisDb: FreshDatabase;
  let plain: Storage;
  let viaRedis: Storage;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    [plainDb, redisDb] = await Promise.all([freshDatabase(backend), freshDatabase("sqlite")]);
    plain = await openStorage(plainDb.url);
    viaRedis = await openStorage(redisDb.url, { redis: { url: SHARED_REDIS, prefix, storageCommandTimeoutMs: PATIENT_MS } });
  });
  afterAll(async () => {
    await viaRedis?.close();
    await plain?.close();
    await deleteKeys(SHARED_REDIS, prefix);
    await Promise.all([plainDb?.drop(), redisDb?.drop()]);
  });

  test("1,500 random calls on a few keys, time moving on by random steps: every answer the same", async () => {
    const next = random(backend === "sqlite" ? 11 : 12);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const keys = [
      ["pair:a", PAIR],
      ["pair:ab", PAIR],
      ["pair:a*", PAIR],
      ["account:x", CEILING],
    ] as const;
    // Mostly short steps (counts build up, quick failures lock), some as long as a lock or a reset.
    const steps = [0, 0, 0, 0, 1, 1, 100, 200, 499, 500, 501, 1000, 1000, 5000, 59_999, 60_000, 120_000, 600_000, 3_600_001];
    const ops = ["reserve", "reserve", "reserve", "reserve", "recordFailure", "recordFailure", "release", "lockedUntil", "locked", "clear", "clearPrefix"] as const;
    let now = 1_700_000_000_000;
    const done: string[] = [];
    for (let i = 0; i < 1500; i++) {
      now += pick(steps);
      const [key, policy] = pick(keys);
      const op = pick(ops);
      const rarely = next() < 0.3;
      const prefix = pick(["pair:a*", "pair:a", "account:"]);
      const call = async (storage: Storage): Promise<unknown> => {
        const t = storage.throttles;
        switch (op) {
          case "reserve":
            return t.reserve(key, policy, now);
          case "recordFailure":
            return t.recordFailure(key, policy, now);
          case "release":
            return t.release(key, policy);
          case "lockedUntil":
            return t.lockedUntil(key, now);
          case "locked":
            return (await t.locked("pair:a", now)).sort((x, y) => x.key.localeCompare(y.key));
          case "clear":
            return rarely ? t.clear(key) : undefined;
          case "clearPrefix":
            return rarely ? t.clearPrefix(prefix) : undefined;
        }
      };
      const expected = JSON.stringify(await call(plain));
      const actual = JSON.stringify(await call(viaRedis));
      done.push(`${i} ${op} ${key} at ${now}: ${expected}`);
      if (actual !== expected) throw new Error(`step ${i} differs: Redis ${actual}, SQL ${expected}\n${done.slice(-25).join("\n")}`);
    }
    // The sequence did reach every kind of state: refusals, locks listed, counters cleared.
    const count = (pattern: RegExp) => done.filter((line) => pattern.test(line)).length;
    expect(count(/"allowed":false/)).toBeGreaterThan(10);
    // And Redis answered every call: nothing reached its storage's database.
    const redisDatabase = await openStorage(redisDb.url, { migrate: false });
    expect(await redisDatabase.throttles.purge(0, Number.MAX_SAFE_INTEGER)).toBe(0);
    await redisDatabase.close();
    expect(count(/ locked .*lockedUntil/)).toBeGreaterThan(5);
    expect(count(/clearPrefix .*: [1-9]/)).toBeGreaterThan(3);
  }, 60_000);
});


const SETTINGS: ThrottleSettings = {
  LOGIN_MAX_FAILURES: 5,
  LOGIN_WAIT_INCREMENT: 60,
  LOGIN_MAX_WAIT: 900,
  LOGIN_QUICK_FAILURE_MS: 0,
  LOGIN_ACCOUNT_MAX_FAILURES: 12,
  LOGIN_ADDRESS_MAX_FAILURES: 8,
  LOGIN_FAILURE_RESET: 3600,
};

describe("throttles in Redis, two instances on one PostgreSQL database", () => {
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

  test("30 concurrent attempts through both count exactly LOGIN_MAX_FAILURES, in Redis and not in the database", async () => {
    const instances = [new PasswordThrottle(first, SETTINGS), new PasswordThrottle(second, SETTINGS)];
    const attempt = { username: "bob", address: "198.51.100.1" };
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => instances[i % 2]!.reserve(attempt, now)));
    expect(results.filter((r) => r.allowed)).toHaveLength(SETTINGS.LOGIN_MAX_FAILURES);
    expect(results.filter((r) => !r.allowed)).toEqual(Array(30 - SETTINGS.LOGIN_MAX_FAILURES).fill({ allowed: false, counter: "pair", retryAfterSeconds: 60 }));
    const pair = throttleKeys.pair(attempt.username, attempt.address);
    expect(await second.throttles.lockedUntil(pair, now)).toBe(now + 60_000);
    expect(await plain.throttles.lockedUntil(pair, now)).toBe(0);
    expect(await probe.hgetall(`${prefix}:throttle:${pair}`)).toEqual({ f: "5", at: String(now), fat: "0", lu: String(now + 60_000), ls: "60" });
  });

  test("a stranger is slowed with doubling waits; an administrator's unlock on one instance holds on the other", async () => {
    const throttle = new PasswordThrottle(first, { ...SETTINGS, LOGIN_ACCOUNT_MAX_FAILURES: 100, LOGIN_ADDRESS_MAX_FAILURES: 100 });
    const other = new PasswordThrottle(second, { ...SETTINGS, LOGIN_ACCOUNT_MAX_FAILURES: 100, LOGIN_ADDRESS_MAX_FAILURES: 100 });
    const stranger = { username: "carol", address: "198.51.100.2" };
    const start = Date.now();
    for (let i = 0; i < SETTINGS.LOGIN_MAX_FAILURES; i++) {
      expect(await throttle.reserve(stranger, start)).toEqual({ allowed: true });
      await throttle.failed(stranger, start);
    }
    expect(await other.reserve(stranger, start + 1000)).toMatchObject({ allowed: false, counter: "pair", retryAfterSeconds: 59 });
    let at = start;
    for (const lock of [60, 120, 240, 480, 900, 900]) {
      at += lock * 1000;
      expect(await other.reserve(stranger, at)).toEqual({ allowed: true });
      await other.failed(stranger, at);
      expect(await throttle.reserve(stranger, at + 1)).toMatchObject({ allowed: false, retryAfterSeconds: lock * 2 > 900 ? 900 : lock * 2 });
    }
    const locks = await first.throttles.locked(throttleKeys.pairsOf("carol"), at);
    expect(locks).toEqual([{ key: throttleKeys.pair(stranger.username, stranger.address), lockedUntil: new Date(at + 900_000), failures: 11 }]);
    expect(await second.throttles.clearPrefix(throttleKeys.pairsOf("carol"))).toBe(1);
    expect(await first.throttles.locked(throttleKeys.pairsOf("carol"), at)).toEqual([]);
    expect(await throttle.reserve(stranger, at + 1)).toEqual({ allowed: true });
  });

  test("a key lives while it matters, then expires: the counter's reset time, or its lock when longer", async () => {
    const counter = `${prefix}:throttle:account:ttl`;
    const now = Date.now();
    await first.throttles.reserve("account:ttl", CEILING, now);
    const idle = CEILING.resetSeconds * 1000 + 1 + IDLE_MARGIN_MS;
    expect(await probe.pttl(counter)).toBeGreaterThan(idle - 5000);
    expect(await probe.pttl(counter)).toBeLessThanOrEqual(idle);
    // The fifth attempt locks for 900 s, longer than the 600 s reset.
    for (let i = 0; i < 4; i++) await first.throttles.reserve("account:ttl", CEILING, now);
    expect(await first.throttles.lockedUntil("account:ttl", now)).toBe(now + 900_000);
    expect(await probe.pttl(counter)).toBeGreaterThan(900_000 - 5000);
    // The index of locks in force holds it as long, and drops it once a later lock is indexed after it ended.
    const locks = `${prefix}:throttle-locks`;
    expect(await probe.zscore(locks, counter)).toBe(String(now + 900_000));
    expect(await probe.pttl(locks)).toBeGreaterThan(900_000 - 5000);
    for (let i = 0; i < 5; i++) await first.throttles.reserve("account:later", CEILING, now + 900_000 + IDLE_MARGIN_MS + 1);
    expect(await probe.zscore(locks, counter)).toBeNull();
    expect(await first.throttles.locked("account:", now + 900_000 + IDLE_MARGIN_MS + 1)).toEqual([
      { key: "account:later", lockedUntil: new Date(now + 1_800_000 + IDLE_MARGIN_MS + 1), failures: 5 },
    ]);
    // A quick failure's lock extends it; a release (no clock) never shortens it.
    const pair = `${prefix}:throttle:pair:ttl`;
    await first.throttles.reserve("pair:ttl", { ...PAIR, resetSeconds: 1 }, now);
    await first.throttles.recordFailure("pair:ttl", { ...PAIR, resetSeconds: 1 }, now);
    await first.throttles.recordFailure("pair:ttl", { ...PAIR, resetSeconds: 1 }, now + 1);
    expect(await probe.pttl(pair)).toBeGreaterThan(60_000 - 5000);
    await first.throttles.release("pair:ttl", PAIR);
    expect(await probe.pttl(pair)).toBeGreaterThan(60_000 - 5000);
    expect(await first.throttles.lockedUntil("pair:ttl", now)).toBe(0);
  });

  test("prefixes with glob characters match literally", async () => {
    expect(globPrefix("a*b?[c]\\d")).toBe("a\\*b\\?\\[c\\]\\\\d*");
    const now = Date.now();
    for (const key of ["pair:%*", "pair:%*x", "pair:%x", "pair:%?", "pair:[%]"]) {
      for (let i = 0; i < PAIR.maxFailures; i++) await first.throttles.reserve(key, PAIR, now);
    }
    expect((await first.throttles.locked("pair:%*", now)).map((l) => l.key).sort()).toEqual(["pair:%*", "pair:%*x"]);
    expect(await first.throttles.clearPrefix("pair:%*")).toBe(2);
    expect(await first.throttles.clearPrefix("pair:[%")).toBe(1);
    expect((await first.throttles.locked("pair:%", now)).map((l) => l.key).sort()).toEqual(["pair:%?", "pair:%x"]);
  });
});

describe("throttles while Redis is down or stalled", () => {
  let redis: PrivateRedis;
  let db: FreshDatabase;
  let storage: Storage;
  let plain: Storage;
  let probe: Redis;
  const prefix = uniquePrefix();
  const inRedis = (key: string) => probe.exists(`${prefix}:throttle:${key}`).then((n) => n === 1, () => false);

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
    db = await freshDatabase("postgresql");
    storage = await openStorage(db.url, { redis: { url: redis.url, prefix } });
    plain = await openStorage(db.url, { migrate: false });
    probe = new Redis(redis.url, { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on("error", () => undefined);
  });
  afterAll(async () => {
    probe?.disconnect();
    await Promise.all([storage?.close(), plain?.close()]);
    await redis?.stop();
    await db?.drop();
  });

  test("down: the database counts (from what it held), every call answered; back: Redis counts again", async () => {
    const now = Date.now();
    for (let i = 0; i < 2; i++) expect(await storage.throttles.reserve("pair:down", PAIR, now)).toEqual({ allowed: true });
    expect(await inRedis("pair:down")).toBe(true);
    await redis.stop();
    // The database starts from zero: three more attempts, then the lock.
    for (let i = 0; i < 3; i++) expect(await storage.throttles.reserve("pair:down", PAIR, now)).toEqual({ allowed: true });
    expect(await storage.throttles.reserve("pair:down", PAIR, now)).toEqual({ allowed: false, lockedUntil: new Date(now + 60_000) });
    expect(await plain.throttles.lockedUntil("pair:down", now)).toBe(now + 60_000);
    expect(await storage.throttles.locked("pair:", now)).toEqual([{ key: "pair:down", lockedUntil: new Date(now + 60_000), failures: 3 }]);
    await storage.throttles.recordFailure("pair:down", PAIR, now);
    await storage.throttles.release("pair:down", PAIR);
    await storage.throttles.clear("pair:other");
    expect(await storage.throttles.clearPrefix("pair:down")).toBe(1);
    // Back (empty: no persistence): counted in Redis again, by itself.
    await redis.start();
    await until(async () => {
      await storage.throttles.reserve("pair:back", PAIR, now);
      return inRedis("pair:back");
    });
    // (The attempts made while it was coming back were counted, and locked, in the database.)
    expect(await probe.hget(`${prefix}:throttle:pair:back`, "f")).toBe("1");
    expect(await storage.throttles.reserve("pair:back", PAIR, now)).toEqual({ allowed: true });
    expect(await probe.hget(`${prefix}:throttle:pair:back`, "f")).toBe("2");
  }, 30_000);

  test("stalled past the command timeout: the database answers at once, Redis again once it answers", async () => {
    await until(() => inRedis("pair:back"));
    const SEVEN = { ...PAIR, maxFailures: 7 };
    await probe.call("CLIENT", "PAUSE", "1500", "ALL");
    const started = Date.now();
    expect(await storage.throttles.reserve("pair:stalled", SEVEN, started)).toEqual({ allowed: true });
    // The first call waits for its timeout; the next ones go to the database without waiting.
    const next = Date.now();
    for (let i = 0; i < 5; i++) expect(await storage.throttles.reserve("pair:stalled", SEVEN, started)).toEqual({ allowed: true });
    expect(Date.now() - next).toBeLessThan(5 * STORAGE_COMMAND_TIMEOUT_MS);
    // All six counted in the database: the seventh locks.
    expect(await plain.throttles.reserve("pair:stalled", SEVEN, started)).toEqual({ allowed: true });
    expect(await plain.throttles.reserve("pair:stalled", SEVEN, started)).toMatchObject({ allowed: false });
    await until(async () => {
      await storage.throttles.reserve("pair:unstalled", PAIR, Date.now());
      return inRedis("pair:unstalled");
    });
  }, 30_000);
});
