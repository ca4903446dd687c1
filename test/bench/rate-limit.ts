// `node test/bench/rate-limit.ts`: what counting one request costs, in process, for the gateway's memory
// store (policies/rate-limit-store.ts: a GCRA bucket updated in place, answered synchronously) against
// rate-limiter-flexible's RateLimiterMemory (the authorization server's /tokeninfo limiter: a promise
// and a result object per request). Both count the same keys, most requests allowed: 1,000 clients
// under a generous limit, as a busy API sees them. Prints nanoseconds per request, and for the
// synchronous store the heap grown over a million requests after the timed ones (with --expose-gc,
// from a collected heap).
import { performance } from "node:perf_hooks";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { MemoryRateLimitStore } from "../../src/gateway/policies/rate-limit-store.ts";

const REQUESTS = Number(process.argv[2] ?? 2_000_000);
const CLIENTS = 1_000;
const keys = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);

function heapAfter(fn: () => void): number {
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  fn();
  return process.memoryUsage().heapUsed - before;
}

async function measure(name: string, run: (n: number) => Promise<void> | void): Promise<void> {
  await run(50_000); // warm-up
  const started = performance.now();
  await run(REQUESTS);
  const elapsed = performance.now() - started;
  let heap = "";
  if (!(run(1) instanceof Promise)) heap = `  ${(Math.max(0, heapAfter(() => void run(1_000_000))) / 1_000_000).toFixed(2)} heap bytes/request`;
  console.log(`${name.padEnd(34)} ${((elapsed * 1e6) / REQUESTS).toFixed(0).padStart(6)} ns/request${heap}`);
}

const store = new MemoryRateLimitStore();
const limiter = store.limiter("bench", { requests: 1_000_000, windowMs: 60_000, burst: 1_000_000 });
await measure("gatehouse memory store (GCRA)", (n) => {
  let allowed = 0;
  const now = Date.now();
  for (let i = 0; i < n; i++) if ((limiter.take(keys[i % CLIENTS]!, now) as { allowed: boolean }).allowed) allowed++;
  if (allowed === 0) throw new Error("nothing allowed");
});
store.close();

const flexible = new RateLimiterMemory({ points: 1_000_000, duration: 60 });
await measure("rate-limiter-flexible memory", async (n) => {
  for (let i = 0; i < n; i++) await flexible.consume(keys[i % CLIENTS]!);
});
