// Signing keys. There is always one active key (signs) and one next key (already published in JWKS, so
// relying parties have it cached before it signs anything). `rotate` promotes next to active, retires
// the old active key (still published until every token it signed has expired) and creates a new next.
// Private keys are stored encrypted with AES-256-GCM under a key derived from KEY_ENCRYPTION_SECRET.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import type { KeyStatus, Storage, SigningKeyRecord } from "../storage/index.ts";
import type { ServiceContext } from "./context.ts";
import { securityEvent } from "../shared/logger.ts";
import { ValidationError } from "./errors.ts";
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

  /** On first start: one active and one next key. Returns true when keys were created. */
  async ensure(alg: SigningAlg): Promise<boolean> {
    const keys = await this.storage.keys.list();
    let created = false;
    if (!keys.some((k) => k.status === "active")) {
      await this.create(alg, "active");
      created = true;
    }
    if (!keys.some((k) => k.status === "next")) {
      await this.create(alg, "next");
      created = true;
    }
    if (created) await this.storage.revisions.bump("keys");
    return created;
  }

  /**
   * Switches signing to the published next key and publishes a new next key (of `alg`, default the
   * current next key's). The retired key stays in JWKS as long as a token it signed can live.
   */
  async rotate({ alg }: { alg?: SigningAlg } = {}): Promise<Rotation> {
    const keys = await this.storage.keys.list();
    const active = keys.find((k) => k.status === "active");
    const next = keys.find((k) => k.status === "next");
    if (!next) throw new ValidationError("no next key is published; start the server once to create one");
    const lifetime = await this.context.lifetimes.longestSigned();
    await this.storage.keys.rotate(active?.kid ?? null, next.kid, new Date(Date.now() + lifetime * 1000));
    const created = await this.create(alg ?? (next.alg as SigningAlg), "next");
    await this.storage.revisions.bump("keys");
    const rotation = { active: next.kid, next: created, retired: active?.kid ?? null, retired_published_for_seconds: active ? lifetime : null };
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
        return k.status === "active" ? jwk : { ...jwk, key_ops: ["verify"] };
      }),
    };
  }

  private async create(alg: SigningAlg, status: "active" | "next"): Promise<string> {
    if (!SIGNING_ALGS.includes(alg)) throw new ValidationError(`alg: one of ${SIGNING_ALGS.join(", ")}`);
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(privateJwk);
    const { d, p, q, dp, dq, qi, ...publicJwk } = privateJwk;
    await this.storage.keys.create({
      kid,
      alg,
      status,
      publicJwk: { ...publicJwk, kid, alg, use: "sig" },
      privateKeyEncrypted: encryptPrivateKey(privateJwk, this.secret()),
      ...(status === "active" ? { activatedAt: new Date() } : {}),
    });
    return kid;
  }
}
