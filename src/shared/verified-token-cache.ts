// Remembers tokens that were already checked, so a client repeating its token does not pay for a
// signature verification or an introspection call each time. Keys are SHA-256 hashes, never the
// token itself; every entry dies at the expiry its writer gives and at the cache's own maximum age;
// the least recently used entry makes room when the cache is full.
import crypto from "node:crypto";

export interface VerifiedTokenCacheOptions {
  /** Upper bound on any entry's life, whatever expiry its writer asks for. */
  maxTtlSeconds: number;
  /** Default 10,000. */
  maxEntries?: number;
}

interface Entry<V> {
  value: V;
  expiresAtMs: number;
}

export class VerifiedTokenCache<V> {
  /** The cache key for a token, optionally bound to a context (e.g. the API it was checked for). */
  static key(token: string, context = ""): string {
    // Length-prefixed so that no (token, context) pair collides with another. crypto.hash is the one-shot
    // form: no Hash object per request.
    return crypto.hash("sha256", `${token.length}:${token}${context}`, "base64url");
  }

  private readonly maxTtlMs: number;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, Entry<V>>();

  constructor({ maxTtlSeconds, maxEntries = 10_000 }: VerifiedTokenCacheOptions) {
    if (!(maxTtlSeconds > 0)) throw new RangeError("VerifiedTokenCache: maxTtlSeconds must be positive");
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("VerifiedTokenCache: maxEntries must be a positive integer");
    this.maxTtlMs = maxTtlSeconds * 1000;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

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
