// Client secret verification. Secrets are stored only as argon2id hashes, and argon2 is deliberately
// slow (30 ms); so a secret that verified is remembered for CLIENT_SECRET_CACHE_TTL as a salted
// SHA-256 of the presented value with a per-process random salt (never the plaintext), tied to the stored hash. A
// rotated secret changes the stored hash and so misses the cache at once (entries are per stored hash);
// a disabled client is not found at all.
import crypto from "node:crypto";
import { verifySecret } from "../services/passwords.ts";

interface Entry {
  digest: Buffer;
  expiresAt: number;
}

export class ClientSecretVerifier {
  /** Per-process random salt: digests are only ever compared with digests this process made. */
  private readonly salt = crypto.randomBytes(32).toString("base64url");
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(ttlSeconds: number, maxEntries = 10_000) {
    this.ttlMs = ttlSeconds * 1000;
    this.maxEntries = maxEntries;
  }

  /**
   * Whether `presented` is the secret behind one of the stored hashes (the current one, and during a
   * rotation's grace period the previous one). Each hash has its own cache entry.
   */
  async verify(clientId: string, storedHashes: readonly string[], presented: string): Promise<boolean> {
    // A salted one-shot SHA-256 (2 µs) rather than an HMAC object (18 µs): nothing here needs a MAC,
    // only a value that cannot be turned back into the secret and matches only the same input.
    const digest = crypto.hash("sha256", `${this.salt}\0${clientId}\0${presented}`, "buffer");
    const now = Date.now();
    for (const storedHash of storedHashes) {
      const key = `${clientId}\0${storedHash}`;
      const cached = this.entries.get(key);
      if (cached && cached.expiresAt > now && crypto.timingSafeEqual(cached.digest, digest)) return true;
    }
    for (const storedHash of storedHashes) {
      if (!(await verifySecret(storedHash, presented))) continue;
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(`${clientId}\0${storedHash}`, { digest, expiresAt: now + this.ttlMs });
      return true;
    }
    return false;
  }
}
