// A bounded in-memory cache whose entries expire: every entry dies at the expiry its writer gives and at
// the cache's own maximum age; the least recently used entry makes room when the cache is full. The one
// mechanism behind the caches of checked tokens (verified-token-cache.ts) and of the catalog's users.

export interface ExpiringCacheOptions {
  /** Upper bound on any entry's life, in seconds, whatever expiry its writer asks for. */
  maxTtlSeconds: number;
  /** Default 10,000. */
  maxEntries?: number;
}

interface Entry<V> {
  value: V;
  expiresAtMs: number;
}

export class ExpiringCache<V> {
  private readonly maxTtlMs: number;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, Entry<V>>();

  /** @throws RangeError when maxTtlSeconds is not positive or maxEntries not a positive integer */
  constructor({ maxTtlSeconds, maxEntries = 10_000 }: ExpiringCacheOptions) {
    if (!(maxTtlSeconds > 0)) throw new RangeError(`${new.target.name}: maxTtlSeconds must be positive`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`${new.target.name}: maxEntries must be a positive integer`);
    this.maxTtlMs = maxTtlSeconds * 1000;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value, made the most recently used; undefined when absent or expired (epoch milliseconds `now`). */
  get(key: string, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAtMs <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps value until expiresAtMs (epoch milliseconds) or the maximum age, whichever comes first. */
  set(key: string, value: V, expiresAtMs: number, now = Date.now()): void {
    const until = Math.min(expiresAtMs, now + this.maxTtlMs);
    this.entries.delete(key);
    if (until <= now) return;
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, expiresAtMs: until });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every entry. */
  clear(): void {
    this.entries.clear();
  }
}
