// Remembers tokens that were already checked, so a client repeating its token does not pay for a
// signature verification or an introspection call each time. Keys are SHA-256 hashes, never the
// token itself; entries expire and make room as in every ExpiringCache (expiring-cache.ts).
import crypto from "node:crypto";
import { ExpiringCache } from "./expiring-cache.ts";

export type { ExpiringCacheOptions as VerifiedTokenCacheOptions } from "./expiring-cache.ts";

export class VerifiedTokenCache<V> extends ExpiringCache<V> {
  /** The cache key for a token, optionally bound to a context (e.g. the API it was checked for). */
  static key(token: string, context = ""): string {
    // Length-prefixed so that no (token, context) pair collides with another. crypto.hash is the one-shot
    // form: no Hash object per request.
    return crypto.hash("sha256", `${token.length}:${token}${context}`, "base64url");
  }
}
