import type { Database } from "../database.ts";
import { record } from "../json.ts";
import { assertStorable } from "./storable.ts";

export type KeyStatus = "next" | "active" | "retired";

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  status: KeyStatus;
  publicJwk: Record<string, unknown>;
  privateKeyEncrypted: string;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

export class SigningKeyRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async list(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.signingKey.findMany({ orderBy: { createdAt: "asc" } });
    return rows.map((r) => ({ ...r, status: r.status as KeyStatus, publicJwk: record(r.publicJwk) }));
  }

  async create(key: Omit<SigningKeyRecord, "createdAt" | "activatedAt" | "retiredAt" | "expiresAt"> & { activatedAt?: Date }): Promise<void> {
    assertStorable("signing key", key);
    await this.db.signingKey.create({ data: key as never });
  }

  /** Promotes `next` to active and retires `active`, in one transaction. */
  async rotate(activeKid: string | null, nextKid: string, retiredExpiresAt: Date, now = new Date()): Promise<void> {
    await this.db.$transaction([
      ...(activeKid
        ? [this.db.signingKey.update({ where: { kid: activeKid }, data: { status: "retired", retiredAt: now, expiresAt: retiredExpiresAt } })]
        : []),
      this.db.signingKey.update({ where: { kid: nextKid }, data: { status: "active", activatedAt: now } }),
    ]);
  }

  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.db.signingKey.deleteMany({ where: { status: "retired", expiresAt: { lt: now } } })).count;
  }
}
