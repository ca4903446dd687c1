import type { Database, DatabaseKind } from "../database.ts";

/**
 * How one kind of password-attempt counter behaves (see authorization-server/credentials/throttle.ts).
 * Durations in seconds.
 */
export interface ThrottlePolicy {
  /** Attempts counted before the first lock. */
  maxFailures: number;
  /** Length of the first lock; every further lock doubles it. */
  firstLockSeconds: number;
  /** Longest lock. */
  maxLockSeconds: number;
  /** A counter with no attempt for this long starts again from zero (and so does the lock length). */
  resetSeconds: number;
  /** Two confirmed failures closer than this (milliseconds) lock at once for firstLockSeconds; 0: off. */
  quickFailureMs: number;
}

export type Reservation = { allowed: true } | { allowed: false; lockedUntil: Date };

/**
 * The SQL of every statement, for one database. Parameters are numbered explicitly ($n on PostgreSQL,
 * ?n on SQLite, where a bare $n would be numbered by first appearance) and typed explicitly (PostgreSQL
 * cannot infer the type of a parameter in arithmetic; SQLite accepts the same CAST).
 */
function statements(kind: DatabaseKind) {
  const param = (n: number) => (kind === "postgresql" ? `$${n}` : `?${n}`);
  const number = (n: number) => `CAST(${param(n)} AS DOUBLE PRECISION)`;
  const integer = (n: number) => `CAST(${param(n)} AS INTEGER)`;
  const key = param(1);
  // Parameter 2 of every statement: now, in epoch milliseconds.
  const now = number(2);

  // Inside SET every column reads its old value, so the new ones are spelled out from the old.
  const fresh = `"lastAt" < ${number(3)}`;
  const failures = `(CASE WHEN ${fresh} THEN 1 ELSE "failures" + 1 END)`;
  const previousLock = `(CASE WHEN ${fresh} THEN 0 ELSE "lockSeconds" END)`;
  const [first, longest] = [integer(5), integer(6)];
  const doubled = `(CASE WHEN ${previousLock} * 2 < ${first} THEN ${first} WHEN ${previousLock} * 2 > ${longest} THEN ${longest} ELSE ${previousLock} * 2 END)`;
  const locks = `${failures} >= ${integer(4)}`;
  const quickLockEnds = `${now} + ${integer(4)} * 1000`;

  return {
    /** $1 key, $2 now. */
    ensure: `INSERT INTO "LoginThrottle" ("key", "failures", "lastAt", "lastFailureAt", "lockedUntil", "lockSeconds") VALUES (${key}, 0, ${now}, 0, 0, 0) ON CONFLICT ("key") DO NOTHING`,
    /** $1 key, $2 now, $3 forget-before, $4 maxFailures, $5 firstLockSeconds, $6 maxLockSeconds. */
    reserve: `UPDATE "LoginThrottle" SET
         "failures" = ${failures},
         "lockSeconds" = CASE WHEN ${locks} THEN ${doubled} ELSE ${previousLock} END,
         "lockedUntil" = CASE WHEN ${locks} THEN ${now} + ${doubled} * 1000 ELSE 0 END,
         "lastFailureAt" = CASE WHEN ${fresh} THEN 0 ELSE "lastFailureAt" END,
         "lastAt" = ${now}
       WHERE "key" = ${key} AND "lockedUntil" <= ${now}
       RETURNING "failures", "lockedUntil"`,
    /** $1 key, $2 now, $3 quickFailureMs, $4 firstLockSeconds. */
    recordFailure: `UPDATE "LoginThrottle" SET
         "lockedUntil" = CASE WHEN ${integer(3)} > 0 AND "lastFailureAt" > ${now} - ${integer(3)} AND "lockedUntil" < ${quickLockEnds} THEN ${quickLockEnds} ELSE "lockedUntil" END,
         "lastFailureAt" = ${now}
       WHERE "key" = ${key}`,
    /** $1 key, $2 maxFailures. */
    release: `UPDATE "LoginThrottle" SET
         "failures" = CASE WHEN "failures" > ${integer(2)} THEN ${integer(2)} - 1 WHEN "failures" > 0 THEN "failures" - 1 ELSE 0 END,
         "lockedUntil" = 0
       WHERE "key" = ${key}`,
  };
}

interface Row {
  failures: number;
  lockedUntil: number;
}

/**
 * Password-attempt counters, one row per key. Every operation is one or two SQL statements that the
 * database runs atomically, so concurrent attempts on any number of instances see each other's counts.
 * Times are stored as epoch milliseconds (numbers), which both databases compare the same way. With
 * Redis, the storage's counters are redis-throttles.ts, whose Lua scripts compute exactly what these
 * statements do, this class answering while Redis cannot.
 */
export class ThrottleRepository {
  private readonly db: Database;
  private readonly sql: ReturnType<typeof statements>;

  constructor(db: Database, kind: DatabaseKind) {
    this.db = db;
    this.sql = statements(kind);
  }

  /**
   * Counts one attempt against `key` before the password is checked, and says whether it may proceed.
   * An attempt counts as a failure until clear() or release() says otherwise, so N concurrent attempts
   * can never check more than the policy allows. Once the count reaches maxFailures the key locks for
   * a doubling time; while locked, nothing is counted. A key with no attempt for resetSeconds starts over.
   */
  async reserve(key: string, policy: ThrottlePolicy, now = Date.now()): Promise<Reservation> {
    await this.db.$executeRawUnsafe(this.sql.ensure, key, now);
    const rows = await this.db.$queryRawUnsafe<Row[]>(
      this.sql.reserve,
      key,
      now,
      now - policy.resetSeconds * 1000,
      policy.maxFailures,
      policy.firstLockSeconds,
      policy.maxLockSeconds,
    );
    if (rows.length > 0) return { allowed: true };
    return { allowed: false, lockedUntil: new Date(await this.lockedUntil(key, now)) };
  }

  /**
   * The reserved attempt failed: remember when, and lock at once for firstLockSeconds when the previous
   * failure was less than quickFailureMs ago (machine-speed guessing).
   */
  async recordFailure(key: string, policy: ThrottlePolicy, now = Date.now()): Promise<void> {
    await this.db.$executeRawUnsafe(this.sql.recordFailure, key, now, policy.quickFailureMs, policy.firstLockSeconds);
  }

  /**
   * The reserved attempt succeeded, on a key others share (a source address): take the count back, below
   * the lock threshold, and lift the lock that attempt may have set. The next failure locks again, for
   * twice as long, so a guesser who also holds a valid account gains one guess per lock at most.
   */
  async release(key: string, policy: ThrottlePolicy): Promise<void> {
    await this.db.$executeRawUnsafe(this.sql.release, key, policy.maxFailures);
  }

  /** Forgets a key entirely (a successful sign-in for that account, or an administrator's unlock). */
  async clear(key: string): Promise<void> {
    await this.db.loginThrottle.deleteMany({ where: { key } });
  }

  /** Forgets every key starting with prefix (e.g. all of one account's per-address counters). */
  async clearPrefix(prefix: string): Promise<number> {
    return (await this.db.loginThrottle.deleteMany({ where: { key: { startsWith: prefix } } })).count;
  }

  /** When the lock on key ends (epoch ms); 0 when it is not locked. */
  async lockedUntil(key: string, now = Date.now()): Promise<number> {
    const row = await this.db.loginThrottle.findUnique({ where: { key }, select: { lockedUntil: true } });
    return row && row.lockedUntil > now ? row.lockedUntil : 0;
  }

  /** Keys with a lock in force whose names start with prefix. */
  async locked(prefix: string, now = Date.now()): Promise<Array<{ key: string; lockedUntil: Date; failures: number }>> {
    const rows = await this.db.loginThrottle.findMany({ where: { key: { startsWith: prefix }, lockedUntil: { gt: now } } });
    return rows.map((r) => ({ key: r.key, lockedUntil: new Date(r.lockedUntil), failures: r.failures }));
  }

  /** Deletes counters with no attempt for olderThanSeconds and no lock in force; returns how many. */
  async purge(olderThanSeconds: number, now = Date.now()): Promise<number> {
    return (await this.db.loginThrottle.deleteMany({ where: { lastAt: { lt: now - olderThanSeconds * 1000 }, lockedUntil: { lt: now } } })).count;
  }
}
