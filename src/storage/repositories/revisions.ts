import type { ChangeNotifications } from "../change-notifications.ts";
import type { Database } from "../database.ts";
import type { Prisma } from "../generated/sqlite/client.ts";

/** What a revision counter covers: "config" = clients, scopes, APIs, routes, issuers, users; "keys" = signing keys. */
export type RevisionName = "config" | "keys";

/** The kinds of configuration entry a change names. */
export type ConfigEntity = "client" | "api" | "route" | "scope" | "issuer" | "user";

/** One change to the configuration: which entry (its client_id, API identifier, route id, scope name, issuer or user id). */
export interface ConfigChange {
  seq: number;
  entity: ConfigEntity;
  key: string;
}

/** How long a change stays in the log, in milliseconds: an instance further behind reloads everything. */
const CHANGE_LOG_RETENTION_MS = 24 * 3600_000;

export class RevisionRepository {
  private readonly db: Database;
  private readonly changes: ChangeNotifications;

  constructor(db: Database, changes: ChangeNotifications) {
    this.db = db;
    this.changes = changes;
  }

  /**
   * Runs the signing-key writes and moves the "keys" counter on in one transaction, then tells every
   * process using this database (change-notifications.ts), each of which reloads its keys whole. Every
   * change of the key table goes through here (SigningKeyRepository.change).
   * @param basedOn the counter's value when the table the writes were computed from was read: the
   *   transaction fails (Prisma P2025, or a unique violation for 0) when another change moved it since
   */
  async keysChangeWith(writes: Prisma.PrismaPromise<unknown>[], basedOn: number): Promise<void> {
    const counter =
      basedOn === 0
        ? this.db.revision.create({ data: { name: "keys", version: 1 } })
        : this.db.revision.update({ where: { name: "keys", version: basedOn }, data: { version: { increment: 1 } } });
    // The counter first, as in #logged: its row lock orders concurrent key changes.
    await this.db.$transaction([counter, ...writes]);
    await this.changes.notify("keys");
  }

  /** The statement that moves a counter on (not run until awaited or put in a transaction). */
  #counter(name: RevisionName) {
    return this.db.revision.upsert({ where: { name }, create: { name, version: 1 }, update: { version: { increment: 1 } } });
  }

  /**
   * The statements that log a configuration change, so that each instance reloads only that entry. The
   * counter is moved first: its row lock orders concurrent writers, so the log's sequence numbers become
   * visible in order and the counter always equals the number of logged changes since any earlier
   * reading of both.
   */
  #logged(change: { entity: ConfigEntity; key: string }) {
    return [this.#counter("config"), this.db.configChange.create({ data: { entity: change.entity, key: change.key } })] as const;
  }

  /**
   * Runs `write` and logs it as a change of `change` in one transaction, so that neither lands without
   * the other (a cache would otherwise keep an entry the database no longer has), then tells every
   * process. Every write of a client, scope, API, route, issuer or user goes through here (their
   * repositories). Resolves to what `write` gives.
   */
  async changeWith<T>(write: Prisma.PrismaPromise<T>, change: { entity: ConfigEntity; key: string }): Promise<T> {
    const [result] = await this.db.$transaction([write, ...this.#logged(change)]);
    await this.changes.notify("config");
    return result as T;
  }

  async read(): Promise<Record<RevisionName, number>> {
    const rows = await this.db.revision.findMany();
    const out: Record<RevisionName, number> = { config: 0, keys: 0 };
    for (const row of rows) if (row.name in out) out[row.name as RevisionName] = row.version;
    return out;
  }

  /** Changes logged after sequence number `seq`, oldest first, at most `limit`. */
  async configChangesSince(seq: number, limit: number): Promise<ConfigChange[]> {
    const rows = await this.db.configChange.findMany({ where: { seq: { gt: seq } }, orderBy: { seq: "asc" }, take: limit });
    return rows.map((r) => ({ seq: r.seq, entity: r.entity as ConfigEntity, key: r.key }));
  }

  /** The last logged change's sequence number (0 when none). */
  async lastConfigChange(): Promise<number> {
    return (await this.db.configChange.aggregate({ _max: { seq: true } }))._max.seq ?? 0;
  }

  /** Forgets changes older than the retention (CHANGE_LOG_RETENTION_MS); returns how many. */
  async purgeExpired(now = Date.now()): Promise<number> {
    return (await this.db.configChange.deleteMany({ where: { createdAt: { lt: new Date(now - CHANGE_LOG_RETENTION_MS) } } })).count;
  }
}
