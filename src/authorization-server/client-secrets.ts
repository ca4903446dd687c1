// Client secret verification. Secrets are stored only as argon2id hashes, and argon2 is deliberately
// slow (30 ms); so a secret that verified is remembered for CLIENT_SECRET_CACHE_TTL as an HMAC of the
// presented value under a per-process random key (never the plaintext), tied to the stored hash. A
// rotated secret changes the stored hash and so misses the cache at once; a disabled client is not
// found at all.
import crypto from "node:crypto";
import { verifySecret } from "../services/passwords.ts";

interface Entry {
  storedHash: string;
  digest: Buffer;
  expiresAt: number;
}

export class ClientSecretVerifier {
  private readonly key = crypto.randomBytes(32);
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(ttlSeconds: number, maxEntries = 10_000) {
    this.ttlMs = ttlSeconds * 1000;
    this.maxEntries = maxEntries;
  }

  async verify(clientId: string, storedHash: string, presented: string): Promise<boolean> {
    const digest = crypto.createHmac("sha256", this.key).update(clientId).update("\0").update(presented).digest();
    const cached = this.entries.get(clientId);
    const now = Date.now();
    if (cached && cached.storedHash === storedHash && cached.expiresAt > now && crypto.timingSafeEqual(cached.digest, digest)) {
      return true;
    }
    if (!(await verifySecret(storedHash, presented))) return false;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(clientId, { storedHash, digest, expiresAt: now + this.ttlMs });
    return true;
  }

  forget(clientId: string): void {
    this.entries.delete(clientId);
  }
}
