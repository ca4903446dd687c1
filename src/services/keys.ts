// Signing keys. There is always one active key (signs) and one next key (already published in JWKS, so
// relying parties have it cached before it signs anything). `rotate` promotes next to active, retires
// the old active key (still published until every token it signed has expired) and creates a new next.
// Private keys are stored encrypted with AES-256-GCM under a key derived from KEY_ENCRYPTION_SECRET.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { KeyTableChanged, type KeyStatus, type KeyTableChange, type NewSigningKey, type Storage, type SigningKeyRecord } from "../storage/index.ts";
import type { ServiceContext } from "./context.ts";
import { securityEvent } from "../shared/logger.ts";
import { ConflictError, ValidationError } from "./errors.ts";
import { seal, unseal } from "./sealing.ts";

export { SIGNING_ALGORITHMS as SIGNING_ALGS, type SigningAlgorithm as SigningAlg } from "../shared/algorithms.ts";
import { SIGNING_ALGORITHMS as SIGNING_ALGS, type SigningAlgorithm as SigningAlg } from "../shared/algorithms.ts";

export function encryptPrivateKey(jwk: JWK, secret: string): string {
  return seal(JSON.stringify(jwk), secret, "signing-key");
}

export function decryptPrivateKey(sealed: string, secret: string): JWK {
  try {
    return JSON.parse(unseal(sealed, secret, "signing-key")) as JWK;
  } catch {
    throw new Error("cannot decrypt the signing keys: KEY_ENCRYPTION_SECRET differs from the one they were stored with");
  }
}

/** A signing key as every front end shows it: its public half only. */
export interface KeyResource {
  kid: string;
  alg: string;
  status: KeyStatus;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  /** A retired key stays published until then. */
  expires_at: string | null;
  public_jwk: Record<string, unknown>;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function keyResource(key: SigningKeyRecord): KeyResource {
  return {
    kid: key.kid,
    alg: key.alg,
    status: key.status,
    created_at: key.createdAt.toISOString(),
    activated_at: iso(key.activatedAt),
    retired_at: iso(key.retiredAt),
    expires_at: iso(key.expiresAt),
    public_jwk: key.publicJwk,
  };
}

export interface Rotation {
  active: string;
  next: string;
  retired: string | null;
  /** How long the retired key stays published: the longest lifetime of a token it can have signed. */
  retired_published_for_seconds: number | null;
}

export class KeyService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  private secret(): string {
    return this.context.secret();
  }

  async list(): Promise<KeyResource[]> {
    return (await this.storage.keys.list()).map(keyResource);
  }

  /**
   * On first start: one active and one next key. On every start, repairs a key table that has more
   * (instances that once started together on a database without the start-up lock each created theirs):
   * the oldest active key stays the signer (the one privateJwks picks, so running instances keep it) and
   * the other active keys are retired, published while a token they may have signed can live; of several
   * next keys the oldest stays, the others (which never signed) are retired unpublished. What it changes
   * lands in one transaction with the "keys" revision (SigningKeyRepository.change).
   * Returns true when keys were created or repaired. A concurrent change of the keys is read again (three tries).
   * @throws ConflictError when the keys kept changing under it (nothing is written)
   */
  async ensure(alg: SigningAlg): Promise<boolean> {
    // Another process repairing the same table at once (SQLite has no start-up lock): read again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ensureOnce(alg);
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt === 3) throw error;
      }
    }
  }

  private async ensureOnce(alg: SigningAlg): Promise<boolean> {
    const basedOn = (await this.storage.revisions.read()).keys;
    const keys = await this.storage.keys.list();
    const actives = keys.filter((k) => k.status === "active");
    const nexts = keys.filter((k) => k.status === "next");
    const create = [...(actives.length === 0 ? [await this.newKey(alg, "active")] : []), ...(nexts.length === 0 ? [await this.newKey(alg, "next")] : [])];
    const repair = actives.length > 1 || nexts.length > 1;
    if (create.length === 0 && !repair) return false;
    const keep = actives[0]?.kid ?? create[0]!.kid;
    const retire = repair ? this.extras(actives, nexts, keep, new Date(Date.now() + (await this.context.lifetimes.longestSigned()) * 1000)) : [];
    await this.change({ create, retire, basedOn });
    if (repair) securityEvent("signing_keys_repaired", { active: actives.map((k) => k.kid), next: nexts.map((k) => k.kid), kept: [keep, nexts[0]?.kid].filter(Boolean) });
    return true;
  }

  /**
   * Every active key but `keep` (published until `activeExpiresAt`: they may have signed) and every next
   * key but the first (unpublished at once: a next key never signed), as retirements.
   */
  private extras(actives: SigningKeyRecord[], nexts: SigningKeyRecord[], keep: string, activeExpiresAt: Date): NonNullable<KeyTableChange["retire"]> {
    return [
      ...actives.filter((k) => k.kid !== keep).map((k) => ({ kid: k.kid, expiresAt: activeExpiresAt })),
      ...nexts.slice(1).map((k) => ({ kid: k.kid, expiresAt: new Date() })),
    ];
  }

  /** Applies a key table change; a concurrent change of the keys is a conflict the caller may retry. */
  private async change(change: KeyTableChange): Promise<void> {
    try {
      await this.storage.keys.change(change);
    } catch (error) {
      if (error instanceof KeyTableChanged) throw new ConflictError(error.message);
      throw error;
    }
  }

  /**
   * Switches signing to the published next key and publishes a new next key (of `alg`, default the
   * current next key's). The retired key stays in JWKS as long as a token it signed can live. Every key
   * that was active is retired (a table with several, left by an earlier race, ends with one) and next
   * keys other than the one promoted are retired unpublished. All of it lands in one transaction with
   * the "keys" revision, so every instance learns of the whole rotation or of none of it.
   * @throws ValidationError when no next key is published
   * @throws ConflictError when another rotation (or start) changed the keys meanwhile (nothing is written)
   */
  async rotate({ alg }: { alg?: SigningAlg } = {}): Promise<Rotation> {
    const basedOn = (await this.storage.revisions.read()).keys;
    const keys = await this.storage.keys.list();
    const actives = keys.filter((k) => k.status === "active");
    const nexts = keys.filter((k) => k.status === "next");
    const active = actives[0];
    const next = nexts[0];
    if (!next) throw new ValidationError("no next key is published; start the server once to create one");
    const created = await this.newKey(alg ?? (next.alg as SigningAlg), "next");
    const lifetime = await this.context.lifetimes.longestSigned();
    const expiresAt = new Date(Date.now() + lifetime * 1000);
    // Every active key is retired (the first is the one that signed; others, left by an earlier race, the same way).
    await this.change({ create: [created], retire: this.extras(actives, nexts, next.kid, expiresAt), activate: next.kid, basedOn });
    const rotation = { active: next.kid, next: created.kid, retired: active?.kid ?? null, retired_published_for_seconds: active ? lifetime : null };
    securityEvent("signing_key_rotated", rotation);
    await this.context.audit.record("rotate", "key", next.kid, { ...rotation });
    return rotation;
  }

  /**
   * The private JWKS for oidc-provider: the active key signs; next and retired keys are marked
   * verify-only, so they are published and accepted but never chosen to sign.
   */
  async privateJwks(): Promise<{ keys: JWK[]; activeAlg: string }> {
    const keys = (await this.storage.keys.list()).filter((k) => k.status !== "retired" || !k.expiresAt || k.expiresAt > new Date());
    const active = keys.find((k) => k.status === "active");
    if (!active) throw new Error("no active signing key");
    const ordered = [active, ...keys.filter((k) => k !== active)];
    return {
      activeAlg: active.alg,
      keys: ordered.map((k) => {
        const jwk = { ...decryptPrivateKey(k.privateKeyEncrypted, this.secret()), kid: k.kid, alg: k.alg, use: "sig" };
        // Only the one chosen signs, even if the table (before the next ensure or rotate repairs it) has two active keys.
        return k === active ? jwk : { ...jwk, key_ops: ["verify"] };
      }),
    };
  }

  /** A new key pair of `alg`, its private half sealed, not yet stored. @throws ValidationError for an unknown alg */
  private async newKey(alg: SigningAlg, status: "active" | "next"): Promise<NewSigningKey> {
    if (!SIGNING_ALGS.includes(alg)) throw new ValidationError(`alg: one of ${SIGNING_ALGS.join(", ")}`);
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(privateJwk);
    const { d, p, q, dp, dq, qi, ...publicJwk } = privateJwk;
    return { kid, alg, status, publicJwk: { ...publicJwk, kid, alg, use: "sig" }, privateKeyEncrypted: encryptPrivateKey(privateJwk, this.secret()) };
  }
}
