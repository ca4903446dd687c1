import type { Database } from "../database.ts";

/** What a revision counter covers: "config" = clients, scopes, APIs; "keys" = signing keys. */
export type RevisionName = "config" | "keys";

export class RevisionRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async bump(name: RevisionName): Promise<void> {
    await this.db.revision.upsert({ where: { name }, create: { name, version: 1 }, update: { version: { increment: 1 } } });
  }

  async read(): Promise<Record<RevisionName, number>> {
    const rows = await this.db.revision.findMany();
    const out: Record<RevisionName, number> = { config: 0, keys: 0 };
    for (const row of rows) if (row.name in out) out[row.name as RevisionName] = row.version;
    return out;
  }
}
