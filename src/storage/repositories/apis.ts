import type { Database } from "../database.ts";
import type { Api as Row } from "../generated/sqlite/client.ts";
import { stringList } from "../json.ts";

export interface ApiRecord {
  identifier: string;
  name: string;
  tokenFormat: "jwt" | "opaque";
  accessTokenTtl: number;
  scopes: string[];
}

function toRecord(row: Row): ApiRecord {
  return {
    identifier: row.identifier,
    name: row.name,
    tokenFormat: row.tokenFormat === "opaque" ? "opaque" : "jwt",
    accessTokenTtl: row.accessTokenTtl,
    scopes: stringList(row.scopes),
  };
}

export class ApiRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async list(): Promise<ApiRecord[]> {
    return (await this.db.api.findMany({ orderBy: { identifier: "asc" } })).map(toRecord);
  }

  async find(identifier: string): Promise<ApiRecord | null> {
    const row = await this.db.api.findUnique({ where: { identifier } });
    return row ? toRecord(row) : null;
  }

  async upsert(api: ApiRecord): Promise<ApiRecord> {
    const { identifier, ...rest } = api;
    return toRecord(await this.db.api.upsert({ where: { identifier }, create: api, update: rest }));
  }

  async delete(identifier: string): Promise<boolean> {
    return (await this.db.api.deleteMany({ where: { identifier } })).count > 0;
  }
}
