import type { Database } from "../database.ts";
import { assertStorable, storable } from "./storable.ts";

export interface ScopeRecord {
  name: string;
  description: string;
}

export class ScopeRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async list(): Promise<ScopeRecord[]> {
    return this.db.scope.findMany({ orderBy: { name: "asc" }, select: { name: true, description: true } });
  }

  async upsert(scope: ScopeRecord): Promise<ScopeRecord> {
    assertStorable("scope", scope);
    return this.db.scope.upsert({
      where: { name: scope.name },
      create: scope,
      update: { description: scope.description },
      select: { name: true, description: true },
    });
  }

  async delete(name: string): Promise<boolean> {
    if (!storable(name)) return false;
    return (await this.db.scope.deleteMany({ where: { name } })).count > 0;
  }
}
