import type { ChangeNotifications } from "../change-notifications.ts";
import type { Database } from "../database.ts";

/** What a revision counter covers: "config" = clients, scopes, APIs; "keys" = signing keys. */
export type RevisionName = "config" | "keys";

export class RevisionRepository {
  private readonly db: Database;
  private readonly changes: ChangeNotifications;

  constructor(db: Database, changes: ChangeNotifications) {
    this.db = db;
    this.changes = changes;
  }

  /** Moves the counter on and tells every process using this database (see change-notifications.ts). */
  async bump(name: RevisionName): Promise<void> {
    await this.db.revision.upsert({ where: { name }, create: { name, version: 1 }, update: { version: { increment: 1 } } });
    await this.changes.notify(name);
  }

  async read(): Promise<Record<RevisionName, number>> {
    const rows = await this.db.revision.findMany();
    const out: Record<RevisionName, number> = { config: 0, keys: 0 };
    for (const row of rows) if (row.name in out) out[row.name as RevisionName] = row.version;
    return out;
  }
}
