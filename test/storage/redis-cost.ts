// What one replay check and one password-attempt count cost, in the database alone and with Redis
// (storage/redis-replays.ts: an id living a minute is recorded in Redis alone, one living an hour in the
// database too; storage/redis-throttles.ts): N calls one after another (each waits
// for the previous one, so wall time per call is its latency), after a warm-up of N/10. CPU is this
// process's (user + system) per call: the client side's cost, not the servers'.
//
//   ./node_modules/.bin/node test/storage/redis-cost.ts [--calls N] [--backend postgresql|sqlite]
//
// Needs PostgreSQL (TEST_POSTGRES_URL, default 127.0.0.1:5432) or nothing (sqlite), and Redis at
// TEST_REDIS_URL (default redis://127.0.0.1:6379); keys go under a prefix of their own, deleted after.
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { openRedis } from "../../src/storage/redis.ts";
import type { ThrottlePolicy } from "../../src/storage/repositories/throttles.ts";
import { freshDatabase, type Backend } from "../helpers/databases.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "2000" }, backend: { type: "string", default: "postgresql" } } });
const calls = Number(values.calls);
const backend = values.backend as Backend;
const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `bench-${crypto.randomBytes(4).toString("hex")}`;
/** Never locks: every reserve is a counted attempt (the common case). */
const POLICY: ThrottlePolicy = { maxFailures: 1_000_000, firstLockSeconds: 60, maxLockSeconds: 900, resetSeconds: 3600, quickFailureMs: 0 };

interface Result {
  what: string;
  wallMs: number;
  cpuUs: number;
}

/** Runs op(i) for i = 0 .. n-1, one at a time, after a warm-up; per-call wall ms and CPU µs. */
async function measure(what: string, op: (i: number) => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < calls / 10; i++) await op(-1 - i);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await op(i);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6 / calls;
  const used = process.cpuUsage(cpu);
  return { what, wallMs, cpuUs: (used.user + used.system) / calls };
}

async function scenarios(label: string, storage: Storage): Promise<Result[]> {
  const run = crypto.randomBytes(4).toString("hex");
  const expiresAt = () => new Date(Date.now() + 60_000);
  const used = `assertion:${run}-used`;
  await storage.replays.firstUse(used, new Date(Date.now() + 3_600_000));
  return [
    await measure(`${label}: replays.firstUse, a new id, 1 min`, (i) => storage.replays.firstUse(`dpop:${run}-${i}`, expiresAt())),
    await measure(`${label}: replays.firstUse, a new id, 1 h`, (i) => storage.replays.firstUse(`assertion:${run}-${i}`, new Date(Date.now() + 3_600_000))),
    await measure(`${label}: replays.firstUse, a replay`, () => storage.replays.firstUse(used, expiresAt())),
    await measure(`${label}: throttles.reserve (100 keys)`, (i) => storage.throttles.reserve(`address:${run}-${Math.abs(i) % 100}`, POLICY)),
    await measure(`${label}: throttles.lockedUntil`, (i) => storage.throttles.lockedUntil(`address:${run}-${Math.abs(i) % 100}`)),
  ];
}

const db = await freshDatabase(backend);
const results: Result[] = [];
try {
  const plain = await openStorage(db.url);
  const viaRedis = await openStorage(db.url, { migrate: false, redis: { url: redisUrl, prefix } });
  const raw = openRedis(redisUrl, prefix);
  try {
    await raw.ready(2000);
    results.push(...(await scenarios(`${backend} alone`, plain)));
    results.push(...(await scenarios(`${backend} + redis`, viaRedis)));
    // Were they counted in Redis (rather than in the database, after a failed command)?
    console.log(`throttle keys in redis: ${(await raw.client.keys(`${prefix}:throttle:*`)).length} (100 expected)`);
    // For comparison: one plain Redis round trip.
    results.push(await measure("redis alone: SET NX PX", (i) => raw.client.set(raw.key(`raw:${i}`), "1", "PX", 60_000, "NX")));
  } finally {
    const keys = await raw.client.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1000) await raw.client.del(...keys.slice(i, i + 1000));
    await raw.close();
    await viaRedis.close();
    await plain.close();
  }
} finally {
  await db.drop();
}
console.log(`${calls} calls each, one at a time (per call):`);
for (const { what, wallMs, cpuUs } of results) console.log(`  ${what.padEnd(56)} ${wallMs.toFixed(3).padStart(7)} ms wall  ${cpuUs.toFixed(0).padStart(5)} µs CPU`);
