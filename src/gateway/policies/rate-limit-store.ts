// Where rate limits count. A store hands out one Limiter per limit (the same one for the same limit
// across configuration loads, so a change elsewhere does not reset anyone's count); a limiter counts
// per partition (a client_id, a subject, an address). The memory store counts in this process with no
// I/O; a shared store (Redis) plugs in behind the same interface, its take() answering with a promise.
//
// Each limit is a GCRA token bucket: `requests` per window, refilled continuously, at most `burst` at
// once. One number per partition (its theoretical arrival time, TAT): a request is allowed when the
// bucket is not empty, that is when TAT - now <= (burst - 1) * interval. The TATs live in one
// Float64Array per limiter, a partition mapping to its slot, so counting allocates nothing (a number
// kept in an object or a Map would be boxed anew on every update).

/** One limit's settings, as the policy's compiler gives them. */
export interface LimitSpec {
  /** Requests per window. */
  requests: number;
  windowMs: number;
  /** The bucket's size: requests that may come at once. */
  burst: number;
}

/** What one take() decided; the memory store reuses one object per limiter: read it before the next take. */
export interface LimitOutcome {
  allowed: boolean;
  /** Requests left right now (RateLimit's r). */
  remaining: number;
  /** Seconds until one more request is available (RateLimit's t; Retry-After when refused). */
  resetSeconds: number;
}

export interface Limiter {
  /** Counts one request of the partition. `now` in milliseconds. */
  take(partition: string, now: number): LimitOutcome | Promise<LimitOutcome>;
  /** Gives back a request take() counted (when another limit refused it). */
  refund(partition: string): void | Promise<void>;
}

export interface RateLimitStore {
  /**
   * The limiter of one limit. `key` names the limit and where it is attached; the same key and settings
   * give the same limiter (and counts) whatever the configuration loads in between.
   */
  limiter(key: string, spec: LimitSpec): Limiter;
  /** A configuration is about to be compiled: the limiters it does not ask for again may be dropped once idle. */
  release?(): void;
  close(): void;
}

export interface MemoryStoreOptions {
  /**
   * Partitions one limiter keeps at most. Past it, a new partition takes the slot of one whose bucket is
   * full again (a bounded look, not a scan of the table); when there is none, new partitions share one
   * overflow bucket with the same limit. A partition still counting is never evicted.
   */
  maxPartitions?: number;
  /** How often full buckets (idle partitions) are forgotten. */
  sweepMs?: number;
}

/**
 * Writes into `outcome` what a request decided whose TAT was `ahead` ms after now (before it), for a
 * limit of one request per `interval` ms with `tolerance` = (burst - 1) intervals: when allowed,
 * remaining = whole requests left after this one (the whole part of the room left, in intervals) and
 * resetSeconds = seconds (at least 1) until one more fits (from the rest); when refused, remaining 0 and
 * resetSeconds = seconds until this one would fit. Shared by every store, so they answer alike.
 */
export function fillOutcome(outcome: LimitOutcome, allowed: boolean, ahead: number, interval: number, tolerance: number): LimitOutcome {
  outcome.allowed = allowed;
  if (!allowed) {
    outcome.remaining = 0;
    outcome.resetSeconds = Math.ceil((ahead - tolerance) / 1000);
    return outcome;
  }
  const room = tolerance - ahead;
  const whole = Math.floor(room / interval + 1e-9);
  outcome.remaining = whole;
  outcome.resetSeconds = Math.max(1, Math.ceil((interval - (room - whole * interval)) / 1000));
  return outcome;
}

/** Partitions looked at, at most, to make room for one new partition when the table is full. */
const EVICTION_STEPS = 32;

class MemoryLimiter implements Limiter {
  readonly #interval: number;
  /** (burst - 1) intervals: how far TAT may run ahead of now. */
  readonly #tolerance: number;
  /** Each partition's slot in #tat. */
  readonly #slots = new Map<string, number>();
  /** Theoretical arrival times (ms) by slot: a bucket is full when its TAT is not after now. Slot 0 is the overflow bucket. */
  #tat = new Float64Array(64);
  /** Slots given back by eviction and the sweep. */
  readonly #free: number[] = [];
  #used = 1;
  readonly #max: number;
  /**
   * Where eviction goes on looking, in the table's insertion order (a clock hand): it survives additions
   * and deletions, so each new partition looks at a few entries past the last one looked at, never at
   * the whole table again.
   */
  #hand: MapIterator<[string, number]> | null = null;
  /** Partitions looked at by eviction so far (what a test counts). */
  examined = 0;
  readonly #outcome: LimitOutcome = { allowed: true, remaining: 0, resetSeconds: 0 };
  /** Used by the current configuration; an unused limiter with no bucket left is dropped by the sweep. */
  used = true;

  constructor(spec: LimitSpec, max: number) {
    this.#interval = spec.windowMs / spec.requests;
    this.#tolerance = (spec.burst - 1) * this.#interval;
    this.#max = max;
  }

  take(partition: string, now: number): LimitOutcome {
    const interval = this.#interval;
    const outcome = this.#outcome;
    let slot = this.#slots.get(partition);
    if (slot === undefined) slot = this.#open(partition, now);
    const stored = this.#tat[slot]!;
    const tat = stored > now ? stored : now;
    const ahead = tat - now;
    const allowed = ahead <= this.#tolerance;
    if (allowed) this.#tat[slot] = tat + interval;
    return fillOutcome(outcome, allowed, ahead, interval, this.#tolerance);
  }

  /** Gives back a request; a partition without a slot of its own was counted in the overflow bucket. */
  refund(partition: string): void {
    this.#tat[this.#slots.get(partition) ?? 0]! -= this.#interval;
  }

  /** Partitions with a slot of their own. */
  get size(): number {
    return this.#slots.size;
  }

  /** Forgets the partitions whose bucket is full again; returns how many are left. (The timer's job: it looks at every partition.) */
  sweep(now: number): number {
    for (const [partition, slot] of this.#slots) {
      if (this.#tat[slot]! <= now) {
        this.#slots.delete(partition);
        this.#free.push(slot);
      }
    }
    return this.#slots.size;
  }

  /**
   * Frees one slot whose bucket is full again (its partition would be counted afresh anyway), looking at
   * no more than EVICTION_STEPS partitions from where the last look stopped. A partition still counting
   * is never evicted: false when none of those looked at could go.
   */
  #evict(now: number): boolean {
    for (let step = 0; step < EVICTION_STEPS; step++) {
      let next = this.#hand?.next();
      if (!next || next.done) {
        this.#hand = this.#slots.entries();
        next = this.#hand.next();
        if (next.done) return false;
      }
      this.examined++;
      const [partition, slot] = next.value;
      if (this.#tat[slot]! <= now) {
        this.#slots.delete(partition);
        this.#free.push(slot);
        return true;
      }
    }
    return false;
  }

  /**
   * A slot for a new partition, its bucket full. When the table is full and no partition looked at has a
   * full bucket again, the new partition gets no slot of its own: it is counted in the overflow bucket
   * (slot 0), which every such partition shares, until a slot frees up. So a flood of new callers is
   * limited together rather than not at all, and no live partition's count is lost.
   */
  #open(partition: string, now: number): number {
    if (this.#slots.size >= this.#max && !this.#evict(now)) return 0;
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#used++;
      if (slot === this.#tat.length) {
        const grown = new Float64Array(this.#tat.length * 2);
        grown.set(this.#tat);
        this.#tat = grown;
      }
    }
    this.#tat[slot] = now;
    this.#slots.set(partition, slot);
    return slot;
  }
}

/** Counts in this process's memory: nothing is shared with other instances, nothing is written anywhere. */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #limiters = new Map<string, MemoryLimiter>();
  readonly #max: number;
  readonly #timer: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxPartitions ?? 100_000;
    this.#timer = setInterval(() => this.sweep(Date.now()), options.sweepMs ?? 60_000);
    this.#timer.unref();
  }

  limiter(key: string, spec: LimitSpec): Limiter {
    const id = `${key}\n${spec.requests}/${spec.windowMs}/${spec.burst}`;
    let limiter = this.#limiters.get(id);
    if (!limiter) {
      limiter = new MemoryLimiter(spec, this.#max);
      this.#limiters.set(id, limiter);
    }
    limiter.used = true;
    return limiter;
  }

  /**
   * Marks every limiter unused; those the next configuration asks for again are used. A sweep drops the
   * unused ones whose buckets are all full (their limits were removed or changed).
   */
  release(): void {
    for (const limiter of this.#limiters.values()) limiter.used = false;
  }

  sweep(now: number): void {
    for (const [id, limiter] of this.#limiters) if (limiter.sweep(now) === 0 && !limiter.used) this.#limiters.delete(id);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#limiters.clear();
  }
}
