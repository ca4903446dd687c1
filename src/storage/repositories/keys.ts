import type { Database } from "../database.ts";
import { record } from "../json.ts";
import { isUniqueViolation } from "../database.ts";
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
  /**
   * Keys to retire, each only if it still has the status it was read with: a retired key stays published
   * until `expiresAt` (now, for a next key that never signed).
   */
  retire?: Array<{ kid: string; status: "active" | "next"; expiresAt: Date }>;
  /** The next key that starts signing, only if it is still "next". */
  activate?: string;
  /**
   * The "keys" revision read before the table this change was computed from: the change is refused
   * when any other key change landed since (two first starts at once both creating keys, say).
   */
  basedOn?: number;
}

/** Another process changed the signing keys between their reading and this change (a concurrent rotation). */
export class KeyTableChanged extends Error {
  override name = "KeyTableChanged";
  constructor() {
    super("the signing keys were changed by another process meanwhile; read them again");
  }
}

/** Prisma's "record to update not found" (P2025): a guarded update found its key no longer in the status read. */
function isRecordNotFound(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (code === "P2025" || /No record was found for an update|Record to update not found/i.test(String(message ?? ""))) return true;
    e = cause;
  }
  return false;
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
   * instance hears of all of it or the table is as it was. Each retirement and the activation apply only
   * to a key still in the status it was read with, and the whole change only if the revision is still
   * `basedOn` when given, so two rotations or two first starts at once cannot both land.
   * @throws KeyTableChanged when a key was no longer in that status or the revision moved (nothing is written)
   */
  async change(change: KeyTableChange, now = new Date()): Promise<void> {
    for (const key of change.create ?? []) assertStorable("signing key", key);
    const writes = [
      ...(change.create ?? []).map((key) => this.db.signingKey.create({ data: { ...key, ...(key.status === "active" ? { activatedAt: now } : {}) } as never })),
      ...(change.retire ?? []).map(({ kid, status, expiresAt }) =>
        this.db.signingKey.update({ where: { kid, status }, data: { status: "retired", retiredAt: now, expiresAt } }),
      ),
      ...(change.activate ? [this.db.signingKey.update({ where: { kid: change.activate, status: "next" }, data: { status: "active", activatedAt: now } })] : []),
    ];
    try {
      await this.revisions.keysChangeWith(writes, change.basedOn);
    } catch (error) {
      // A guarded update that found nothing, or (basedOn 0) the revision created by another change first.
      if (isRecordNotFound(error) || (change.basedOn === 0 && isUniqueViolation(error))) throw new KeyTableChanged();
      throw error;
    }
  }

  /** Forgets retired keys no longer published. Not a change any instance must hear of: none publishes an expired key. */
  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.db.signingKey.deleteMany({ where: { status: "retired", expiresAt: { lt: now } } })).count;
  }
}
