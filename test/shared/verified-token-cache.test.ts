// The verified-token cache: hashed keys, expiry per entry and overall, bounded size.
import { VerifiedTokenCache } from "../../src/shared/verified-token-cache.ts";

describe("VerifiedTokenCache", () => {
  test("keys are hashes, distinct per context, never the token", () => {
    const key = VerifiedTokenCache.key("secret-token");
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key).not.toContain("secret");
    expect(VerifiedTokenCache.key("secret-token", "api-a")).not.toBe(VerifiedTokenCache.key("secret-token", "api-b"));
    expect(VerifiedTokenCache.key("ab", "c")).not.toBe(VerifiedTokenCache.key("a", "bc"));
  });

  test("an entry is gone at its own expiry and at the maximum age", () => {
    const cache = new VerifiedTokenCache<string>({ maxTtlSeconds: 60 });
    const t = 1_000_000;
    cache.set("short", "s", t + 1000, t);
    cache.set("long", "l", t + 3_600_000, t);
    expect(cache.get("short", t + 999)).toBe("s");
    expect(cache.get("short", t + 1000)).toBeUndefined();
    expect(cache.get("long", t + 59_999)).toBe("l");
    expect(cache.get("long", t + 60_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  test("an already expired value is not stored", () => {
    const cache = new VerifiedTokenCache<string>({ maxTtlSeconds: 60 });
    cache.set("old", "o", Date.now() - 1);
    expect(cache.size).toBe(0);
  });

  test("full: the least recently used entry makes room", () => {
    const cache = new VerifiedTokenCache<number>({ maxTtlSeconds: 60, maxEntries: 3 });
    const until = Date.now() + 60_000;
    cache.set("a", 1, until);
    cache.set("b", 2, until);
    cache.set("c", 3, until);
    expect(cache.get("a")).toBe(1);
    cache.set("d", 4, until);
    expect(cache.size).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect([cache.get("a"), cache.get("c"), cache.get("d")]).toEqual([1, 3, 4]);
  });

  test("options are checked when the cache is made", () => {
    expect(() => new VerifiedTokenCache({ maxTtlSeconds: 0 })).toThrow(RangeError);
    expect(() => new VerifiedTokenCache({ maxTtlSeconds: 1, maxEntries: 0 })).toThrow(RangeError);
  });
});
