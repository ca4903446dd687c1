// Statements run on the database driver Prisma itself uses, past Prisma's query compiler and
// interpreter: for the few statements on the hot path of every token (oidc-provider's artifacts,
// oidc-adapter.ts), where that layer cost 5 to 8 times the driver's own CPU (0.45 to 0.85 ms against
// 0.03 to 0.1 ms per statement, measured on both databases). Prisma stays the way in for everything
// else. The statements go through the same driver adapter object (@prisma/adapter-libsql,
// @prisma/adapter-pg) as Prisma's own, by its public queryRaw/executeRaw: the same connections, the same
// timeouts, and on SQLite the same lock that keeps a statement out of a Prisma transaction in progress.
import { isDatabaseUnavailable } from "./errors.ts";

/** The two SQL dialects Gatehouse speaks (database.ts's DatabaseKind is this one). */
export type SqlDialect = "sqlite" | "postgresql";

/** How a driver adapter is told an argument's type (@prisma/driver-adapter-utils' ArgType). */
interface ArgType {
  scalarType: "string" | "int" | "float" | "datetime" | "unknown";
  arity: "scalar";
}

/** A statement as a driver adapter takes it. */
interface AdapterQuery {
  sql: string;
  args: unknown[];
  argTypes: ArgType[];
}

/** The part of a Prisma driver adapter (@prisma/driver-adapter-utils' SqlQueryable) used here. */
export interface DriverAdapter {
  queryRaw(query: AdapterQuery): Promise<{ columnNames: string[]; rows: unknown[][] }>;
  executeRaw(query: AdapterQuery): Promise<number>;
  /**
   * A transaction on the adapter (SqlDriverAdapter.startTransaction): @prisma/adapter-libsql holds its lock
   * until commit or rollback, so no other statement of this adapter runs in between.
   */
  startTransaction?(): Promise<{ executeRaw(query: AdapterQuery): Promise<number>; commit(): Promise<void>; rollback(): Promise<void> }>;
}

/** What a statement may be given: texts, numbers, times (a Date: the driver adapter writes it as Prisma does), SQL NULL. */
export type SqlArg = string | number | Date | null;

/** One result row: column name to value; DateTime columns come back as ISO 8601 texts (`sqlTime` reads them). */
export type SqlRow = Record<string, unknown>;

/**
 * Parameterised statements on the database, written once for both kinds: PostgreSQL's placeholders
 * `$1`, `$2`, … (SQLite gets them as `?1`, `?2`, …); quoted identifiers; nothing else dialect-specific.
 * Rejects with the driver adapter's error (isDatabaseUnavailable recognises an unreachable database).
 */
export interface DirectSql {
  readonly kind: SqlDialect;
  /** Rows of a SELECT (or of a statement with RETURNING). */
  query(sql: string, args: readonly SqlArg[]): Promise<SqlRow[]>;
  /** Rows changed by an INSERT, UPDATE or DELETE. */
  execute(sql: string, args: readonly SqlArg[]): Promise<number>;
}

/** A DateTime column's value as a Date (null stays null). */
export function sqlTime(value: unknown): Date | null {
  return value === null || value === undefined ? null : new Date(value as string);
}

const ARG_TYPES: Record<string, ArgType> = {
  string: { scalarType: "string", arity: "scalar" },
  number: { scalarType: "float", arity: "scalar" },
  datetime: { scalarType: "datetime", arity: "scalar" },
  null: { scalarType: "unknown", arity: "scalar" },
};

function argType(arg: SqlArg): ArgType {
  if (arg === null) return ARG_TYPES.null!;
  if (arg instanceof Date) return ARG_TYPES.datetime!;
  if (typeof arg === "number") return Number.isInteger(arg) ? { scalarType: "int", arity: "scalar" } : ARG_TYPES.number!;
  return ARG_TYPES.string!;
}

/**
 * DirectSql over the driver adapter Prisma connected (`adapter` settles once Prisma has connected; see
 * database.ts). SQLite's statements are rewritten once each (`$n` → `?n`) and remembered.
 */
export class AdapterSql implements DirectSql {
  readonly kind: SqlDialect;
  readonly #adapter: () => Promise<DriverAdapter>;
  readonly #rewritten = new Map<string, string>();
  readonly #groupCommit: GroupCommit | undefined;

  constructor(kind: SqlDialect, adapter: () => Promise<DriverAdapter>) {
    this.kind = kind;
    this.#adapter = adapter;
    // PostgreSQL commits concurrent transactions on its pool's connections in parallel and syncs its log
    // for them together on its own; SQLite syncs its log once per transaction, on this process's thread.
    this.#groupCommit = kind === "sqlite" ? new GroupCommit(adapter) : undefined;
  }

  /** SQLite's group commit: transactions and the writes they committed (for tests); undefined on PostgreSQL. */
  get groupCommitStats(): Readonly<{ transactions: number; statements: number }> | undefined {
    return this.#groupCommit?.stats;
  }

  #sql(sql: string): string {
    if (this.kind === "postgresql") return sql;
    let rewritten = this.#rewritten.get(sql);
    if (rewritten === undefined) {
      rewritten = sql.replace(/\$(\d+)/g, "?$1");
      this.#rewritten.set(sql, rewritten);
    }
    return rewritten;
  }

  async query(sql: string, args: readonly SqlArg[]): Promise<SqlRow[]> {
    const adapter = await this.#adapter();
    const result = await adapter.queryRaw({ sql: this.#sql(sql), args: [...args], argTypes: args.map(argType) });
    const names = result.columnNames;
    return result.rows.map((row) => {
      const object: SqlRow = {};
      for (let i = 0; i < names.length; i++) object[names[i]!] = row[i];
      return object;
    });
  }

  async execute(sql: string, args: readonly SqlArg[]): Promise<number> {
    const query = { sql: this.#sql(sql), args: [...args], argTypes: args.map(argType) };
    if (this.#groupCommit) return this.#groupCommit.execute(query);
    const adapter = await this.#adapter();
    return adapter.executeRaw(query);
  }
}

interface PendingWrite {
  query: AdapterQuery;
  resolve: (count: number) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for SQLite: the writes asked for in one turn of the event loop (by as many requests as
 * reached a write in it) commit in one transaction, so the log is synced once for all of them instead of
 * once each (with synchronous=FULL that sync is most of a write's cost, and SQLite does it on this
 * process's only thread). Durability is unchanged: each write's promise settles only once its transaction
 * has committed. A transaction in which a statement fails is rolled back and its statements run again
 * one by one, so each caller gets the outcome its own statement has alone, unless the database itself
 * failed (isDatabaseUnavailable): then, as when the commit fails, every write of the group rejects with
 * that error. One write alone runs as it is.
 */
export class GroupCommit {
  readonly #adapter: () => Promise<DriverAdapter>;
  #pending: PendingWrite[] = [];
  /** Transactions committed and statements in them, for tests. */
  readonly stats = { transactions: 0, statements: 0 };

  constructor(adapter: () => Promise<DriverAdapter>) {
    this.#adapter = adapter;
  }

  /** Resolves to the rows changed once the write has committed; rejects with the driver adapter's error. */
  execute(query: AdapterQuery): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => void this.#commit());
      this.#pending.push({ query, resolve, reject });
    });
  }

  async #commit(): Promise<void> {
    const writes = this.#pending;
    this.#pending = [];
    let adapter: DriverAdapter;
    try {
      adapter = await this.#adapter();
    } catch (error) {
      return this.#rejectAll(writes, error);
    }
    if (writes.length === 1 || !adapter.startTransaction) return this.#oneByOne(adapter, writes);
    let transaction: Awaited<ReturnType<NonNullable<DriverAdapter["startTransaction"]>>>;
    try {
      transaction = await adapter.startTransaction();
    } catch {
      return this.#oneByOne(adapter, writes);
    }
    const counts: number[] = [];
    try {
      for (const write of writes) counts.push(await transaction.executeRaw(write.query));
    } catch (error) {
      await transaction.rollback().catch(() => undefined);
      // The database itself failed (locked past busy_timeout, closed, unreachable): every write hears so.
      if (isDatabaseUnavailable(error)) return this.#rejectAll(writes, error);
      return this.#oneByOne(await this.#adapter().catch(() => adapter), writes);
    }
    try {
      await transaction.commit();
    } catch (error) {
      // Not re-run: a commit that fails may still have landed, and a consume run again would read as reuse.
      await transaction.rollback().catch(() => undefined);
      return this.#rejectAll(writes, error);
    }
    this.stats.transactions++;
    this.stats.statements += writes.length;
    writes.forEach((write, i) => write.resolve(counts[i]!));
  }

  #rejectAll(writes: PendingWrite[], error: unknown): void {
    for (const write of writes) write.reject(error);
  }

  async #oneByOne(adapter: DriverAdapter, writes: PendingWrite[]): Promise<void> {
    for (const write of writes) {
      try {
        const count = await adapter.executeRaw(write.query);
        this.stats.transactions++;
        this.stats.statements++;
        write.resolve(count);
      } catch (error) {
        write.reject(error);
      }
    }
  }
}
