import type { Database } from "../database.ts";
import { storable } from "./storable.ts";

/**
 * Single-use identifiers (an assertion's jti or ID): the first use is recorded until the assertion
 * expires; any later use, on any instance sharing the database, finds it there. With Redis, the
 * storage's replay cache is redis-replays.ts, which checks Redis first and still records every first
 * use here (this class is its database path).
 */
export class ReplayRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  /**
   * Records the first use of `id` until `expiresAt`; false when it was used before and has not expired
   * (expired: its expiresAt is before `now`). An id that cannot be stored (storable.ts) cannot be
   * remembered either, so it is never a first use. Of concurrent calls with one id, at most one gets true
   * (the primary key decides).
   * @param id already namespaced by the caller ("assertion:<sha256>", grants/assertion.ts)
   * @throws the database's errors (unreachable, timed out) other than the unique violation that means a replay
   */
  async firstUse(id: string, expiresAt: Date, now = new Date()): Promise<boolean> {
    if (!storable(id)) return false;
    await this.db.assertionReplay.deleteMany({ where: { id, expiresAt: { lt: now } } });
    try {
      await this.db.assertionReplay.create({ data: { id, expiresAt } });
      return true;
    } catch (error) {
      // A unique violation (P2002) is the replay; anything else is a real failure.
      if ((error as { code?: string }).code === "P2002" || /Unique constraint/i.test(String((error as Error).message))) return false;
      throw error;
    }
  }

  /** Deletes the ids expired before `now`; returns how many. */
  async purge(now = new Date()): Promise<number> {
    return (await this.db.assertionReplay.deleteMany({ where: { expiresAt: { lt: now } } })).count;
  }
}
