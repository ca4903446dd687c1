// Revoked JWT access tokens (by jti) and revoked grants (by grant id), held in memory for the
// introspection endpoint and the gateway. Entries live in the database until the tokens they refuse
// have expired; each instance loads new ones every CONFIG_POLL_MS, and this process adds its own at once.
import type { Storage, RevocationKind } from "../storage/index.ts";

export class RevocationList {
  private readonly storage: Storage;
  private readonly entries = new Map<string, number>();
  private loadedUntil = new Date(0);

  constructor(storage: Storage) {
    this.storage = storage;
  }

  isRevoked(kind: RevocationKind, id: string, now = Date.now()): boolean {
    const expiresAt = this.entries.get(`${kind}:${id}`);
    return expiresAt !== undefined && expiresAt > now;
  }

  async revoke(kind: RevocationKind, id: string, expiresAt: Date): Promise<void> {
    this.entries.set(`${kind}:${id}`, expiresAt.getTime());
    await this.storage.revocations.add({ kind, id, expiresAt });
  }

  /** Loads entries written since the last load (by any instance), with a margin for clock skew. */
  async sync(now = new Date()): Promise<void> {
    const since = new Date(this.loadedUntil.getTime() - 5000);
    for (const entry of await this.storage.revocations.listSince(since, now)) {
      this.entries.set(`${entry.kind}:${entry.id}`, entry.expiresAt.getTime());
    }
    this.loadedUntil = now;
    for (const [key, expiresAt] of this.entries) if (expiresAt <= now.getTime()) this.entries.delete(key);
  }
}
