// The Redis rate limit store against a real Redis: two stores (as two gateway instances) share one
// budget per limit and partition, partitions are apart, the outcomes (remaining, resetSeconds, refusals)
// are the memory store's for the same sequence, refunds work, keys expire with their bucket. Without
// Redis (an unreachable one, one that stops, one that stalls) take() answers at once from a local count
// that still enforces the limit, and the store goes back to Redis once it returns. End to end: two
// Gatehouse processes with the same REDIS_URL and database refuse after N requests in total.
import crypto from "node:crypto";
import { Redis } from "ioredis";
import { RedisRateLimitStore, type RedisStoreOptions } from "../../src/gateway/policies/rate-limit-redis.ts";
import { MemoryRateLimitStore, type LimitOutcome, type LimitSpec } from "../../src/gateway/policies/rate-limit-store.ts";
import { openRedis, type RedisConnection } from "../../src/storage/redis.ts";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";
import { PrivateRedis, until } from "../helpers/redis.ts";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** This run's keys: nothing of another run (or of a deployment) is read or left behind. */
const PREFIX = `gatehouse-test-${crypto.randomBytes(6).toString("hex")}`;
const perMinute = (requests: number, burst = requests): LimitSpec => ({ requests, windowMs: 60_000, burst });

let admin: Redis;
const stores: RedisRateLimitStore[] = [];

/** Connections the tests opened for stores, closed after them. */
const connections: RedisConnection[] = [];

/**
 * A store under this run's prefix, connected. On the shared Redis it waits up to 5 s for each answer
 * (these tests compare what Redis counts: a busy machine must not send a call to the local count, which
 * has tests of its own); on another server it keeps the store's own command timeout.
 */
async function store(url = REDIS_URL, prefix = PREFIX): Promise<RedisRateLimitStore> {
  let options: RedisStoreOptions = {};
  if (url === REDIS_URL) {
    const connection = openRedis(url, prefix, { commandTimeoutMs: 5_000, purpose: "rate limits" });
    connections.push(connection);
    options = { connection };
  }
  const created = new RedisRateLimitStore(url, prefix, options);
  stores.push(created);
  if (url === REDIS_URL) await until(() => created.usable(Date.now()));
  return created;
}

const take = async (limiter: { take(p: string, now: number): LimitOutcome | Promise<LimitOutcome> }, partition: string) => ({ ...(await limiter.take(partition, Date.now())) });
const allowed = async (limiter: Parameters<typeof take>[0], partition: string, count: number) => {
  const seen: boolean[] = [];
  for (let i = 0; i < count; i++) seen.push((await take(limiter, partition)).allowed);
  return seen;
};

/** Every key of `prefix` on `client`. */
async function keysOf(client: Redis, prefix = `${PREFIX}:`): Promise<string[]> {
  return client.keys(`${prefix}*`);
}

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
  await admin.ping();
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(connections.map((c) => c.close()));
  const left = await keysOf(admin);
  if (left.length) await admin.del(...left);
  await admin.quit();
});

describe("Redis rate limit store", () => {
  test("two stores (two instances) share one budget for the same limit and partition", async () => {
    const [a, b] = [await store(), await store()];
    const spec = perMinute(4);
    const [la, lb] = [a.limiter("api shared client-per-minute client", spec), b.limiter("api shared client-per-minute client", spec)];
    const seen: boolean[] = [];
    for (let i = 0; i < 6; i++) seen.push((await take(i % 2 ? lb : la, "client-1")).allowed);
    expect(seen).toEqual([true, true, true, true, false, false]);
    // The count is in Redis, under the prefix, the limit's key and the partition.
    expect(await admin.exists(`${PREFIX}:rl:api shared client-per-minute client:client-1`)).toBe(1);
  });

  test("each partition, and each limit, counts on its own", async () => {
    const s = await store();
    const limiter = s.limiter("api isolated client-per-minute client", perMinute(2));
    expect(await allowed(limiter, "a", 3)).toEqual([true, true, false]);
    expect(await allowed(limiter, "b", 3)).toEqual([true, true, false]);
    // Another limit's count for the same partition is untouched.
    expect(await allowed(s.limiter("api other client-per-minute client", perMinute(2)), "a", 1)).toEqual([true]);
    // A long partition is keyed by its hash; two long ones that differ only at the end stay apart.
    const long = "x".repeat(500);
    expect(await allowed(limiter, `${long}1`, 3)).toEqual([true, true, false]);
    expect(await allowed(limiter, `${long}2`, 2)).toEqual([true, true]);
    // One starting with # is hashed too: no partition can be written under a hashed one's key.
    expect(await allowed(limiter, "#short", 1)).toEqual([true]);
    const keys = await keysOf(admin, `${PREFIX}:rl:api isolated`);
    expect(keys.length).toBe(5);
    expect(keys.filter((key) => key.endsWith(":#short") || key.includes("xxx"))).toEqual([]);
    for (const key of keys) expect(key.length).toBeLessThan(`${PREFIX}:rl:api isolated client-per-minute client:`.length + 70);
  });

  test("the outcomes are the memory store's for the same sequence: remaining, resetSeconds (Retry-After), refusals, refunds", async () => {
    const s = await store();
    const memory = new MemoryRateLimitStore();
    // Specs whose answers do not sit on a second's boundary within the few ms between the two stores' clocks.
    const specs: LimitSpec[] = [perMinute(3), perMinute(10, 4), { requests: 3, windowMs: 1000, burst: 3 }, { requests: 100, windowMs: 3_600_000, burst: 2 }, { requests: 7, windowMs: 60_000, burst: 1 }];
    for (const [index, spec] of specs.entries()) {
      const key = `api compare limit-${index} client`;
      const [redisLimiter, memoryLimiter] = [s.limiter(key, spec), memory.limiter(key, spec)];
      const fromRedis: LimitOutcome[] = [];
      const fromMemory: LimitOutcome[] = [];
      for (let i = 0; i < spec.burst + 3; i++) {
        fromRedis.push(await take(redisLimiter, "p"));
        fromMemory.push(await take(memoryLimiter, "p"));
        if (i === spec.burst) {
          // A refund (another limit refused) gives one back in both.
          await redisLimiter.refund("p");
          await memoryLimiter.refund("p");
        }
      }
      expect({ spec, outcomes: fromRedis }).toEqual({ spec, outcomes: fromMemory });
      // Not vacuous: each sequence was allowed, refused, allowed once more after the refund, then refused.
      expect(fromRedis[0]).toMatchObject({ allowed: true, remaining: spec.burst - 1 });
      expect(fromRedis.map((o) => o.allowed).slice(spec.burst)).toEqual([false, true, false]);
      expect(fromRedis.at(-1)).toMatchObject({ allowed: false, remaining: 0 });
      expect(fromRedis.at(-1)!.resetSeconds).toBeGreaterThanOrEqual(1);
    }
    memory.close();
  });

  test("a refund gives one request back", async () => {
    const s = await store();
    const limiter = s.limiter("api refund client-per-minute client", perMinute(2));
    expect(await allowed(limiter, "r", 3)).toEqual([true, true, false]);
    await limiter.refund("r");
    expect(await allowed(limiter, "r", 2)).toEqual([true, false]);
    // Refunding the only request of a partition removes its key: the bucket is full again.
    await limiter.take("single", Date.now());
    await limiter.refund("single");
    expect(await admin.exists(`${PREFIX}:rl:api refund client-per-minute client:single`)).toBe(0);
  });

  test("keys expire when their bucket is full again", async () => {
    const s = await store();
    const key = `${PREFIX}:rl:api expiry client-per-minute client:e`;
    // 6 a minute: one request every 10 s.
    const limiter = s.limiter("api expiry client-per-minute client", perMinute(6));
    await take(limiter, "e");
    const one = await admin.pttl(key);
    expect(one).toBeGreaterThan(9_000);
    expect(one).toBeLessThanOrEqual(10_000);
    for (let i = 0; i < 5; i++) await take(limiter, "e");
    const full = await admin.pttl(key);
    expect(full).toBeGreaterThan(50_000);
    expect(full).toBeLessThanOrEqual(60_000);
    // A per-second limit's key is gone about a second later.
    const fast = s.limiter("api expiry client-per-second client", { requests: 5, windowMs: 1000, burst: 5 });
    await take(fast, "f");
    const fastKey = `${PREFIX}:rl:api expiry client-per-second client:f`;
    expect(await admin.pttl(fastKey)).toBeGreaterThan(0);
    await until(async () => (await admin.exists(fastKey)) === 0, 3000);
  });

  test("Redis unreachable: take() answers at once from a local count that enforces the limit", async () => {
    const s = await store("redis://127.0.0.1:1");
    const limiter = s.limiter("api down client-per-minute client", perMinute(2));
    const seen: LimitOutcome[] = [];
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      seen.push(await take(limiter, "d"));
      expect(performance.now() - started).toBeLessThan(200);
    }
    expect(seen.map((o) => o.allowed)).toEqual([true, true, false, false]);
    expect(seen[2]!.resetSeconds).toBeGreaterThanOrEqual(1);
    // A refund while down does not reject either.
    await limiter.refund("d");
    expect((await take(limiter, "d")).allowed).toBe(true);
  });
});

describe("Redis rate limit store, Redis going away and coming back", () => {
  let server: PrivateRedis;

  beforeAll(async () => {
    server = new PrivateRedis(await freePort());
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  test("counts locally while Redis is down (quickly), and in Redis again once it is back", async () => {
    const observer = openRedis(server.url, PREFIX);
    const s = await store(server.url);
    try {
      await until(() => s.usable(Date.now()) && observer.isReady());
      const limiter = s.limiter("api outage client-per-minute client", perMinute(3));
      const key = `${PREFIX}:rl:api outage client-per-minute client:o`;
      expect((await take(limiter, "o")).allowed).toBe(true);
      expect(await observer.client.exists(key)).toBe(1);

      await server.stop();
      await until(() => !s.usable(Date.now()));
      // Down: each answer comes at once, from the local count, which still enforces the limit (3 of its own).
      const local: boolean[] = [];
      for (let i = 0; i < 4; i++) {
        const started = performance.now();
        local.push((await take(limiter, "o")).allowed);
        expect(performance.now() - started).toBeLessThan(200);
      }
      expect(local).toEqual([true, true, true, false]);

      // Back (empty, as after a restart): the store reconnects by itself and counts there again.
      await server.start();
      await until(() => s.usable(Date.now()) && observer.isReady(), 15_000);
      expect((await take(limiter, "o")).allowed).toBe(true);
      expect(await observer.client.exists(key)).toBe(1);
      expect(await allowed(limiter, "o", 3)).toEqual([true, true, false]);
    } finally {
      await observer.close();
    }
  });

  test("a stalled Redis: take() gives up after the command timeout and answers from the local count", async () => {
    const pauser = new Redis(server.url);
    const s = await store(server.url);
    try {
      await until(() => s.usable(Date.now()));
      const limiter = s.limiter("api stalled client-per-minute client", perMinute(2));
      expect((await take(limiter, "s")).allowed).toBe(true);
      // Every client but the pauser's own waits for two seconds.
      await pauser.call("CLIENT", "PAUSE", "2000", "ALL");
      const stalled: boolean[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        stalled.push((await take(limiter, "s")).allowed);
        expect(performance.now() - started).toBeLessThan(200);
      }
      // Counted locally from a full bucket: two allowed, then refused.
      expect(stalled).toEqual([true, true, false]);
      await pauser.call("CLIENT", "UNPAUSE");
    } finally {
      pauser.disconnect();
    }
  });
});

describe("two Gatehouse processes sharing a Redis", () => {
  const PUBLIC = "https://shared-limits.example.com";
  const LIMIT = 3;
  let db: FreshDatabase;
  let upstream: Upstream;
  let first: RunningGatehouse;
  let second: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      await services.apis.apply({ identifier: PUBLIC, name: "Shared limits", scopes: ["things:read"] });
      await services.routes.apply(PUBLIC, {
        path_prefix: "/shared",
        upstream: upstream.url,
        rewrite: "keep",
        public: true,
        policies: { rate_limit: { limits: [{ by: "address", requests: LIMIT, per: "minute" }] } },
      });
    });
    const env = { TRUST_PROXY: "1", REDIS_URL, REDIS_PREFIX: PREFIX, LOG_LEVEL: "info" };
    first = await startGatehouse(db, env);
    second = await startGatehouse(db, env);
  }, 120_000);

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await upstream?.close();
    await db?.drop();
  });

  test("requests alternating between them are refused after N in total, with Retry-After", async () => {
    const gateways = [first, second].map((g) => `http://127.0.0.1:${g.env.GATEWAY_PORT}`);
    const address = "198.51.100.77";
    // Both are connected to Redis before the first request (otherwise they would count locally).
    const connected = (output: string) => /"msg":"redis connected"[^\n]*"purpose":"rate limits"/.test(output);
    await until(() => connected(first.output()) && connected(second.output()), 15_000);
    const seen: Array<{ status: number; retryAfter: string | null }> = [];
    for (let i = 0; i < LIMIT + 3; i++) {
      const response = await fetch(`${gateways[i % 2]}/shared/${i}`, { headers: { "x-forwarded-for": address } });
      await response.arrayBuffer();
      seen.push({ status: response.status, retryAfter: response.headers.get("retry-after") });
    }
    expect(seen.map((s) => s.status)).toEqual([200, 200, 200, 429, 429, 429]);
    for (const refused of seen.slice(LIMIT)) expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(upstream.received.filter((r) => r.url.startsWith("/shared/")).length).toBe(LIMIT);
    // Another address has its own count, on either process.
    const other = await fetch(`${gateways[1]}/shared/other`, { headers: { "x-forwarded-for": "198.51.100.78" } });
    expect(other.status).toBe(200);
  });
});
