import type { Database } from "../database.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

export interface ScopeRecord {
  name: string;
  description: string;
}

export class ScopeRepository {
  private readonly db: Database;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its scope (change-feed.ts) */
  constructor(db: Database, revisions: RevisionRepository) {
    this.db = db;
    this.revisions = revisions;
  }

  async list(): Promise<ScopeRecord[]> {
    return this.db.scope.findMany({ orderBy: { name: "asc" }, select: { name: true, description: true } });
  }

  async upsert(scope: ScopeRecord): Promise<ScopeRecord> {
    assertStorable("scope", scope);
    return this.revisions.changeWith(this.db.scope.upsert({
      where: { name: scope.name },
      create: scope,
      update: { description: scope.description },
      select: { name: true, description: true },
    }), { entity: "scope", key: scope.name });
  }

  async delete(name: string): Promise<boolean> {
    if (!storable(name)) return false;
    return (await this.revisions.changeWith(this.db.scope.deleteMany({ where: { name } }), { entity: "scope", key: name })).count > 0;
  }
}
