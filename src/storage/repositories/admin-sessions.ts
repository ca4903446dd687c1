import type { Database } from "../database.ts";
import { assertStorable, storable } from "./storable.ts";

export interface AdminSessionRecord {
  /** SHA-256 of the cookie value. */
  id: string;
  userId: string;
  username: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export class AdminSessionRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async create(session: Omit<AdminSessionRecord, "createdAt" | "lastSeenAt">): Promise<void> {
    assertStorable("console session", session);
    await this.db.adminSession.create({ data: session });
  }

  async find(id: string): Promise<AdminSessionRecord | null> {
    if (!storable(id)) return null;
    return this.db.adminSession.findUnique({ where: { id } });
  }

  async touch(id: string, at = new Date()): Promise<void> {
    if (!storable(id)) return;
    await this.db.adminSession.updateMany({ where: { id }, data: { lastSeenAt: at } });
  }

  async delete(id: string): Promise<void> {
    if (!storable(id)) return;
    await this.db.adminSession.deleteMany({ where: { id } });
  }

  /** Ends every console session of a user (disabled, deleted, roles changed). */
  async deleteForUser(userId: string): Promise<number> {
    if (!storable(userId)) return 0;
    return (await this.db.adminSession.deleteMany({ where: { userId } })).count;
  }

  async purge(idleBefore: Date, now = new Date()): Promise<number> {
    return (await this.db.adminSession.deleteMany({ where: { OR: [{ expiresAt: { lt: now } }, { lastSeenAt: { lt: idleBefore } }] } })).count;
  }
}
