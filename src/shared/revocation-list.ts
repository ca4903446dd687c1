// Gatehouse's revoked access tokens, held in memory for the introspection endpoint, the gateway and the
// opaque tokens the oidc-provider adapter keeps (oidc-adapter.ts): single tokens (by jti, an opaque
// token's value), grants (by grant id, the token's gid claim), and "not before" marks for a client or a
// user (their tokens issued before the mark). Entries live in the database until the tokens they refuse
// have expired; each instance loads new ones when a change is announced and every CONFIG_POLL_MS, and
// this process adds its own at once. Loads go by the database's clock (entries are stamped with it on
// PostgreSQL), never this machine's, so instances whose clocks differ miss nothing.
import type { Storage, RevocationKind } from "../storage/index.ts";

/** The claims of a Gatehouse access token that a revocation can name. */
export interface RevocableClaims {
  jti?: unknown;
  gid?: unknown;
  /** An exchanged token's subject tokens' grants, the first exchange's first (RFC 8693; authorization-server/grants/token-exchange.ts). */
  sgid?: unknown;
  /** An exchanged token's subject tokens' clients: their revocation marks apply to it too. */
  sclient?: unknown;
  client_id?: unknown;
  sub?: unknown;
  /** Issued at, in seconds. */
  iat?: unknown;
}

interface Entry {
  /** Epoch ms after which the entry is forgotten. */
  expiresAt: number;
  /** Epoch ms; "client" and "subject" entries only. */
  notBefore: number;
}

export class RevocationList {
  /**
   * How far before the previous load each load reads again, in milliseconds: an entry whose transaction
   * began that much before the previous load but committed after it is still found.
   */
  static readonly SYNC_MARGIN_MS = 5000;
  /** How often every entry is loaded again, whatever the times say, in milliseconds (a commit later than the margin). */
  static readonly FULL_LOAD_MS = 60_000;

  private readonly storage: Storage;
  private readonly entries = new Map<string, Entry>();
  /** The database's clock when the last load began (epoch ms); 0 before any. */
  private loadedAt = 0;
  /** When (this machine's clock, epoch ms) the last load of every entry ran. */
  private fullLoadAt = 0;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  isRevoked(kind: "jti" | "grant", id: string, now = Date.now()): boolean {
    const entry = this.entries.get(`${kind}:${id}`);
    return entry !== undefined && entry.expiresAt > now;
  }

  /**
   * Whether a Gatehouse access token with these claims is revoked: its jti, its grant (or, exchanged, its
   * subject token's grant), or a not-before
   * mark of its client or user later than its iat. iat has one-second resolution, so a token issued in
   * the same second as the mark, even just after it, is refused too.
   */
  refuses(claims: RevocableClaims, now = Date.now()): boolean {
    if (typeof claims.jti === "string" && this.isRevoked("jti", claims.jti, now)) return true;
    if (typeof claims.gid === "string" && this.isRevoked("grant", claims.gid, now)) return true;
    if (Array.isArray(claims.sgid) && claims.sgid.some((grant) => typeof grant === "string" && this.isRevoked("grant", grant, now))) return true;
    const issuedAt = typeof claims.iat === "number" ? claims.iat * 1000 : 0;
    if (Array.isArray(claims.sclient) && claims.sclient.some((client) => this.issuedBeforeMark("client", client, issuedAt, now))) return true;
    return this.issuedBeforeMark("client", claims.client_id, issuedAt, now) || this.issuedBeforeMark("subject", claims.sub, issuedAt, now);
  }

  private issuedBeforeMark(kind: "client" | "subject", id: unknown, issuedAt: number, now: number): boolean {
    if (typeof id !== "string") return false;
    const entry = this.entries.get(`${kind}:${id}`);
    return entry !== undefined && entry.expiresAt > now && issuedAt < entry.notBefore;
  }

  async revoke(kind: "jti" | "grant", id: string, expiresAt: Date): Promise<void> {
    this.entries.set(`${kind}:${id}`, { expiresAt: expiresAt.getTime(), notBefore: 0 });
    await this.storage.revocations.add({ kind, id, expiresAt });
  }

  /**
   * Loads the entries written since the last load (by any instance), by the database's clock: from
   * SYNC_MARGIN_MS before the previous load began; every entry once every FULL_LOAD_MS.
   */
  async sync(now = new Date()): Promise<void> {
    const full = now.getTime() - this.fullLoadAt >= RevocationList.FULL_LOAD_MS;
    const startedAt = (await this.storage.revocations.clock()).getTime();
    const since = new Date(full ? 0 : Math.max(0, this.loadedAt - RevocationList.SYNC_MARGIN_MS));
    for (const entry of await this.storage.revocations.listSince(since, now)) {
      this.entries.set(`${entry.kind}:${entry.id}`, { expiresAt: entry.expiresAt.getTime(), notBefore: entry.notBefore?.getTime() ?? 0 });
    }
    this.loadedAt = startedAt;
    if (full) this.fullLoadAt = now.getTime();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now.getTime()) this.entries.delete(key);
  }
}

export type { RevocationKind };
