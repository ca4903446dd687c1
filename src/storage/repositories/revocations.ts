import type { Database } from "../database.ts";

/** "jti": a revoked JWT access token; "grant": a revoked grant whose JWT access tokens are all refused. */
export type RevocationKind = "jti" | "grant";

export interface RevocationRecord {
  kind: RevocationKind;
  id: string;
  expiresAt: Date;
}

export class RevocationRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async add(entry: RevocationRecord): Promise<void> {
    const { kind, id, expiresAt } = entry;
    await this.db.revocation.upsert({ where: { kind_id: { kind, id } }, create: entry, update: { expiresAt } });
  }

  async has(kind: RevocationKind, id: string, now = new Date()): Promise<boolean> {
    const row = await this.db.revocation.findUnique({ where: { kind_id: { kind, id } } });
    return !!row && row.expiresAt > now;
  }

  /** Entries created after `since` (for the in-memory revocation list every instance keeps). */
  async listSince(since: Date, now = new Date()): Promise<RevocationRecord[]> {
    const rows = await this.db.revocation.findMany({ where: { createdAt: { gte: since }, expiresAt: { gt: now } } });
    return rows.map((r) => ({ kind: r.kind as RevocationKind, id: r.id, expiresAt: r.expiresAt }));
  }

  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.db.revocation.deleteMany({ where: { expiresAt: { lt: now } } })).count;
  }
}
