import type { Database } from "../database.ts";
import { record, stringList } from "../json.ts";

export interface ConsentRecord {
  userId: string;
  clientId: string;
  scopes: string[];
  claims: string[];
  /** Resource indicator -> scopes granted for it. */
  resources: Record<string, string[]>;
}

export class ConsentRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async find(userId: string, clientId: string): Promise<ConsentRecord | null> {
    const row = await this.db.consent.findUnique({ where: { userId_clientId: { userId, clientId } } });
    if (!row) return null;
    const resources = Object.fromEntries(Object.entries(record(row.resources)).map(([k, v]) => [k, stringList(v)]));
    return { userId, clientId, scopes: stringList(row.scopes), claims: stringList(row.claims), resources };
  }

  async save(consent: ConsentRecord): Promise<void> {
    const { userId, clientId, ...data } = consent;
    await this.db.consent.upsert({
      where: { userId_clientId: { userId, clientId } },
      create: consent,
      update: data,
    });
  }

  async deleteForUser(userId: string): Promise<void> {
    await this.db.consent.deleteMany({ where: { userId } });
  }

  async deleteForClient(clientId: string): Promise<void> {
    await this.db.consent.deleteMany({ where: { clientId } });
  }
}
