import type { Database } from "../database.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";

export interface ConsentRecord {
  userId: string;
  clientId: string;
  scopes: string[];
  claims: string[];
  /** Resource indicator -> scopes granted for it. */
  resources: Record<string, string[]>;
}

function toRecord(row: { userId: string; clientId: string; scopes: unknown; claims: unknown; resources: unknown }): ConsentRecord {
  const resources = Object.fromEntries(Object.entries(record(row.resources)).map(([k, v]) => [k, stringList(v)]));
  return { userId: row.userId, clientId: row.clientId, scopes: stringList(row.scopes), claims: stringList(row.claims), resources };
}

export class ConsentRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async find(userId: string, clientId: string): Promise<ConsentRecord | null> {
    if (!storable(userId, clientId)) return null;
    const row = await this.db.consent.findUnique({ where: { userId_clientId: { userId, clientId } } });
    return row ? toRecord(row) : null;
  }

  /** Every consent the user gave, by client_id, with when it was last given. */
  async listForUser(userId: string): Promise<Array<ConsentRecord & { updatedAt: Date }>> {
    if (!storable(userId)) return [];
    const rows = await this.db.consent.findMany({ where: { userId }, orderBy: { clientId: "asc" } });
    return rows.map((row) => ({ ...toRecord(row), updatedAt: row.updatedAt }));
  }

  /** Returns whether there was one. */
  async delete(userId: string, clientId: string): Promise<boolean> {
    if (!storable(userId, clientId)) return false;
    return (await this.db.consent.deleteMany({ where: { userId, clientId } })).count > 0;
  }

  async save(consent: ConsentRecord): Promise<void> {
    assertStorable("consent", consent);
    const { userId, clientId, ...data } = consent;
    await this.db.consent.upsert({
      where: { userId_clientId: { userId, clientId } },
      create: consent,
      update: data,
    });
  }

  async deleteForUser(userId: string): Promise<void> {
    if (!storable(userId)) return;
    await this.db.consent.deleteMany({ where: { userId } });
  }

  async deleteForClient(clientId: string): Promise<void> {
    if (!storable(clientId)) return;
    await this.db.consent.deleteMany({ where: { clientId } });
  }
}
