import type { Database } from "../database.ts";

/** Failed sign-in counters per source address (accounts keep their own on User). */
export class ThrottleRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async lockedUntil(key: string, now = new Date()): Promise<Date | null> {
    const row = await this.db.loginThrottle.findUnique({ where: { key } });
    return row?.lockedUntil && row.lockedUntil > now ? row.lockedUntil : null;
  }

  async recordFailure(key: string, maxFailures: number, lockSeconds: number, now = new Date()): Promise<void> {
    const row = await this.db.loginThrottle.findUnique({ where: { key } });
    const fresh = !row || row.windowStart.getTime() < now.getTime() - lockSeconds * 1000;
    const failures = fresh ? 1 : row.failures + 1;
    const data = {
      failures,
      windowStart: fresh ? now : row.windowStart,
      lockedUntil: failures >= maxFailures ? new Date(now.getTime() + lockSeconds * 1000) : null,
    };
    await this.db.loginThrottle.upsert({ where: { key }, create: { key, ...data }, update: data });
  }

  async clear(key: string): Promise<void> {
    await this.db.loginThrottle.deleteMany({ where: { key } });
  }

  async purge(now = new Date()): Promise<number> {
    const r = await this.db.loginThrottle.deleteMany({
      where: { windowStart: { lt: new Date(now.getTime() - 24 * 3600 * 1000) } },
    });
    return r.count;
  }
}
