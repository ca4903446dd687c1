import type { ChangeNotifications } from "../change-notifications.ts";
import { directSql, type Database } from "../database.ts";
import { sqlTime } from "../direct-sql.ts";
import { assertStorable } from "./storable.ts";

/**
 * "jti": one revoked access token (a JWT's jti, an opaque token's value); "grant": a revoked grant, all
 * of whose access tokens are refused; "client" / "subject": every access token of that client or user
 * issued before notBefore is refused (a disabled or deleted client or user, a password change, "revoke
 * tokens"). Opaque tokens kept in memory (oidc-adapter.ts) are refused by the same entries.
 */
export type RevocationKind = "jti" | "grant" | "client" | "subject";

export interface RevocationRecord {
  kind: RevocationKind;
  id: string;
  /** When the entry may be forgotten: the tokens it refuses have all expired by then. */
  expiresAt: Date;
  /** For "client" and "subject": tokens issued before this instant are refused. */
  notBefore?: Date | null;
}

/**
 * PostgreSQL's upsert, its time of writing taken from the database's clock (in UTC, as Prisma writes
 * DateTime): every instance reads entries by that time (listSince), so instances whose clocks differ
 * still see each other's entries.
 */
const UPSERT_POSTGRESQL = `INSERT INTO "Revocation" ("kind", "id", "expiresAt", "notBefore", "createdAt") VALUES ($1, $2, $3, $4, (now() AT TIME ZONE 'UTC'))
  ON CONFLICT ("kind", "id") DO UPDATE SET "expiresAt" = excluded."expiresAt", "notBefore" = excluded."notBefore", "createdAt" = excluded."createdAt"`;

export class RevocationRepository {
  private readonly db: Database;
  private readonly changes: ChangeNotifications;

  constructor(db: Database, changes: ChangeNotifications) {
    this.db = db;
    this.changes = changes;
  }

  /**
   * Adds an entry, or moves an existing one's expiry and notBefore forward, and tells every process.
   * Its time of writing is the database's clock on PostgreSQL (instances on several machines), this
   * machine's on SQLite (one machine).
   */
  async add(entry: RevocationRecord): Promise<void> {
    assertStorable("revocation", entry);
    const { kind, id, expiresAt } = entry;
    const notBefore = entry.notBefore ?? null;
    const sql = directSql(this.db);
    if (sql.kind === "postgresql") await sql.execute(UPSERT_POSTGRESQL, [kind, id, expiresAt, notBefore]);
    else {
      const row = { expiresAt, notBefore, createdAt: new Date() };
      await this.db.revocation.upsert({ where: { kind_id: { kind, id } }, create: { kind, id, ...row }, update: row });
    }
    await this.changes.notify("revocations");
  }

  /** The database's clock (PostgreSQL's, in UTC; this machine's on SQLite), which entries are stamped with. */
  async clock(): Promise<Date> {
    const sql = directSql(this.db);
    if (sql.kind !== "postgresql") return new Date();
    const [row] = await sql.query(`SELECT (now() AT TIME ZONE 'UTC') AS "now"`, []);
    return sqlTime(row!.now)!;
  }

  /** Unexpired entries written at or after `since` (by their time of writing), for the in-memory revocation list every instance keeps. */
  async listSince(since: Date, now = new Date()): Promise<RevocationRecord[]> {
    const rows = await this.db.revocation.findMany({ where: { createdAt: { gte: since }, expiresAt: { gt: now } } });
    return rows.map((r) => ({ kind: r.kind as RevocationKind, id: r.id, expiresAt: r.expiresAt, notBefore: r.notBefore }));
  }

  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.db.revocation.deleteMany({ where: { expiresAt: { lt: now } } })).count;
  }
}
