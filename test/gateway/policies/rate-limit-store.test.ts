import { MemoryRateLimitStore, type LimitOutcome } from "../../../src/gateway/policies/rate-limit-store.ts";

// The memory store's partition table when it is full: making room for a new caller looks at a bounded
// number of partitions (not the whole table), takes only a slot whose bucket is full again, and never
// resets a partition that is still counting.
const MAX = 1000;
const spec = { requests: 2, windowMs: 60_000, burst: 2 };

function store() {
  return new MemoryRateLimitStore({ maxPartitions: MAX, sweepMs: 3_600_000 });
}

type Examined = { examined: number; size: number };

describe("memory rate limit store, full", () => {
  test("new callers past a full table of live partitions do not scan it, and no live count is reset", () => {
    const s = store();
    const limiter = s.limiter("k", spec);
    const now = 1_000_000;
    // Every partition uses up its limit: all of them are live for the next minute.
    for (let i = 0; i < MAX; i++) {
      limiter.take(`p${i}`, now);
      limiter.take(`p${i}`, now);
    }
    const counter = limiter as unknown as Examined;
    expect(counter.size).toBe(MAX);
    const before = counter.examined;
    for (let i = 0; i < 1000; i++) limiter.take(`new${i}`, now + 1);
    // At most a few dozen looks per new caller, far from the 1,000 x 1,000 of a full scan each.
    expect(counter.examined - before).toBeLessThanOrEqual(1000 * 32);
    // Every partition still refuses: none lost its count to make room.
    for (let i = 0; i < MAX; i++) expect((limiter.take(`p${i}`, now + 2) as LimitOutcome).allowed).toBe(false);
    // The new callers shared one overflow bucket with the same limit: the first two passed, then refused.
    expect((limiter.take("another", now + 3) as LimitOutcome).allowed).toBe(false);
    s.close();
  });

  test("a partition whose bucket is full again gives its slot to a new caller", () => {
    const s = store();
    const limiter = s.limiter("k", spec);
    const now = 1_000_000;
    for (let i = 0; i < MAX; i++) limiter.take(`p${i}`, now);
    const counter = limiter as unknown as Examined;
    // A minute later every bucket is full again: each new caller gets its own slot after one look.
    const later = now + 60_000;
    const before = counter.examined;
    for (let i = 0; i < MAX; i++) {
      const first = limiter.take(`new${i}`, later) as LimitOutcome;
      expect(first).toMatchObject({ allowed: true, remaining: 1 });
    }
    expect(counter.examined - before).toBeLessThanOrEqual(2 * MAX);
    expect(counter.size).toBe(MAX);
    s.close();
  });

  test("only the full buckets go: the live ones among them keep their counts", () => {
    const s = store();
    const limiter = s.limiter("k", spec);
    const now = 1_000_000;
    // Even partitions are used up (live for a minute); odd ones took one request 30 s earlier and are full again by now.
    for (let i = 0; i < MAX; i++) {
      if (i % 2) limiter.take(`p${i}`, now - 60_000);
      else {
        limiter.take(`p${i}`, now);
        limiter.take(`p${i}`, now);
      }
    }
    for (let i = 0; i < MAX / 2; i++) expect((limiter.take(`new${i}`, now + 1) as LimitOutcome).allowed).toBe(true);
    for (let i = 0; i < MAX; i += 2) expect((limiter.take(`p${i}`, now + 2) as LimitOutcome).allowed).toBe(false);
    s.close();
  });
});
