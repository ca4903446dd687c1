import { isRecordNotFound, isUniqueViolation, type Database } from "../database.ts";
import { record } from "../json.ts";
import { assertStorable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

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

/** A key to store, its private half already sealed (services/keys.ts). */
export type NewSigningKey = Pick<SigningKeyRecord, "kid" | "alg" | "publicJwk" | "privateKeyEncrypted"> & { status: "active" | "next" };

/** One change of the key table, made whole or not at all (SigningKeyRepository.change). */
export interface KeyTableChange {
  /** Keys to store; an active one is stamped activated now. */
  create?: NewSigningKey[];
  /** Keys to retire: a retired key stays published until `expiresAt` (now, for a next key that never signed). */
  retire?: Array<{ kid: string; expiresAt: Date }>;
  /** The next key that starts signing. */
  activate?: string;
  /**
   * The "keys" revision read before the table this change was computed from: the change is refused
   * when any other key change landed since (two rotations, or two first starts, at once).
   */
  basedOn: number;
}

/** Another process changed the signing keys between their reading and this change (a concurrent rotation). */
export class KeyTableChanged extends Error {
  override name = "KeyTableChanged";
  constructor() {
    super("the signing keys were changed by another process meanwhile; read them again");
  }
}

export class SigningKeyRepository {
  private readonly db: Database;
  private readonly revisions: RevisionRepository;

  /** @param revisions every change moves the "keys" revision on in its own transaction, so every instance reloads its keys */
  constructor(db: Database, revisions: RevisionRepository) {
    this.db = db;
    this.revisions = revisions;
  }

  async list(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.signingKey.findMany({ orderBy: { createdAt: "asc" } });
    return rows.map((r) => ({ ...r, status: r.status as KeyStatus, publicJwk: record(r.publicJwk) }));
  }

  /**
   * Stores, retires and activates keys and moves the "keys" revision on, in one transaction: every
   * instance hears of all of it or the table is as it was. It lands only if the revision is still
   * `basedOn`, so of two changes computed from the same table only the first does.
   * @throws KeyTableChanged when the revision moved since `basedOn` (nothing is written)
   */
  async change(change: KeyTableChange, now = new Date()): Promise<void> {
    for (const key of change.create ?? []) assertStorable("signing key", key);
    const writes = [
      ...(change.create ?? []).map((key) => this.db.signingKey.create({ data: { ...key, ...(key.status === "active" ? { activatedAt: now } : {}) } as never })),
      ...(change.retire ?? []).map(({ kid, expiresAt }) => this.db.signingKey.update({ where: { kid }, data: { status: "retired", retiredAt: now, expiresAt } })),
      ...(change.activate ? [this.db.signingKey.update({ where: { kid: change.activate }, data: { status: "active", activatedAt: now } })] : []),
    ];
    try {
      await this.revisions.keysChangeWith(writes, change.basedOn);
    } catch (error) {
      // The revision no longer at basedOn, or (basedOn 0) created by another change first.
      if (isRecordNotFound(error) || (change.basedOn === 0 && isUniqueViolation(error))) throw new KeyTableChanged();
      throw error;
    }
  }

  /** Forgets retired keys no longer published. Not a change any instance must hear of: none publishes an expired key. */
  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.db.signingKey.deleteMany({ where: { status: "retired", expiresAt: { lt: now } } })).count;
  }
}
