// oidc-provider's storage contract (its seven-method Adapter) over the OidcArtifact table. Every
// lookup it makes is indexed (model+id primary key, uid, userCode, grantId); consume is a single
// conditional UPDATE, so of two concurrent code exchanges exactly one wins. A refresh token consumed
// less than its client's reuse grace period ago reads as unused once more, and may be consumed once
// more (a client that lost the response of its refresh retries with the same token); after that, or
// later, presenting it is reuse, which oidc-provider answers by revoking the grant.
// An opaque access token destroyed (revoked, or with its grant) is also put on the revocation list,
// by its value, so gateways that cached its introspection refuse it at once (introspection.ts).
// With the in-memory revocation list at hand (AdapterOptions.revocations), opaque access tokens found
// are remembered, so introspecting or presenting the same token again reads no token row: each hit is
// asked of that list (the token's value and grant, the grants and clients an exchanged token came
// from, its client's and user's not-before marks). Every instance's list follows a revocation anywhere
// within milliseconds when it is announced, within CONFIG_POLL_MS when the announcement is lost
// (change-notifications.ts, change-feed.ts); an entry is read again after ACCESS_TOKEN_CACHE_SECONDS.
import { securityEvent } from "../shared/logger.ts";
import { isStorableText } from "../shared/storable-text.ts";
import { VerifiedTokenCache } from "../shared/verified-token-cache.ts";
import { directSql, type Database } from "./database.ts";
import { sqlTime, type DirectSql, type SqlRow } from "./direct-sql.ts";
import type { RevocationRepository } from "./repositories/revocations.ts";

export type AdapterPayload = Record<string, unknown> & {
  grantId?: string;
  clientId?: string;
  accountId?: string;
  userCode?: string;
  uid?: string;
  consumed?: number;
};

export interface AdapterOptions {
  /** Serves the "Client" model from Gatehouse's client catalog instead of the artifact table. */
  findClient: (clientId: string) => AdapterPayload | undefined | Promise<AdapterPayload | undefined>;
  /** Raised when a second consume of the same artifact loses the race (turned into invalid_grant). */
  alreadyConsumed: () => Error;
  /**
   * Seconds during which a consumed refresh token of this client may be presented once more: find()
   * hands it out as unused, and consume() lets that one extra rotation through (a lost response).
   */
  refreshTokenReuseGrace: (clientId: string) => number;
  /**
   * Puts a destroyed opaque access token (its value) on the revocation list until `expiresAt`. Default:
   * stored and announced (revocations.ts); the server passes its in-memory list's revoke(), so the
   * gateway in its own process refuses the token before the revocation's response is sent.
   */
  revokeAccessToken?: (id: string, expiresAt: Date) => Promise<void>;
  /**
   * This process's in-memory revocation list (shared/revocation-list.ts). When given, opaque access
   * tokens found are kept in memory (hashed, until their exp and for at most
   * ACCESS_TOKEN_CACHE_SECONDS), and a kept one is handed out only while the list refuses neither its
   * value (jti) nor its grant, client or user (not-before marks, by iat).
   */
  revocations?: { refuses(claims: { jti?: unknown; gid?: unknown; sgid?: unknown; sclient?: unknown; client_id?: unknown; sub?: unknown; iat?: unknown }): boolean };
  /** Told of every lookup of an opaque access token kept in memory: answered from memory ("hit") or the table ("miss"); for metrics. */
  onAccessTokenLookup?: (outcome: "hit" | "miss") => void;
}

/** Longest time, in seconds, an opaque access token found is kept in memory without being read again. */
export const ACCESS_TOKEN_CACHE_SECONDS = 60;

/** oidc-provider's models of opaque access tokens: of a grant, and of the client credentials grant. */
const OPAQUE_ACCESS_TOKENS: ReadonlySet<string> = new Set(["AccessToken", "ClientCredentials"]);

/** Artifacts that belong to a grant and die with it (the Grant record itself is destroyed by oidc-provider). */
const GRANT_BOUND = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest"]);

const OPAQUE_MODELS_SQL = [...OPAQUE_ACCESS_TOKENS].map((model) => `'${model}'`).join(", ");
const GRANT_BOUND_SQL = [...GRANT_BOUND].map((model) => `'${model}'`).join(", ");

/**
 * Puts the unexpired opaque access tokens with this id (or of this grant) on the revocation list (kind
 * "jti", the token's value), before they are deleted.
 */
async function listRevokedAccessTokens(sql: DirectSql, revoke: (id: string, expiresAt: Date) => Promise<void>, where: { id: string } | { grantId: string }): Promise<void> {
  const [column, value] = "id" in where ? ["id", where.id] : ["grantId", where.grantId];
  const rows = await sql.query(`SELECT "id", "expiresAt" FROM "OidcArtifact" WHERE "${column}" = $1 AND "model" IN (${OPAQUE_MODELS_SQL}) AND "expiresAt" > $2`, [value, new Date()]);
  for (const row of rows) await revoke(row.id as string, sqlTime(row.expiresAt)!);
}

/** The default of AdapterOptions.revokeAccessToken: stored and announced. */
function revokeThrough(revocations: RevocationRepository): (id: string, expiresAt: Date) => Promise<void> {
  return (id, expiresAt) => revocations.add({ kind: "jti", id, expiresAt });
}

/** Seconds an expired device code stays findable, so that polling it answers expired_token. */
export const EXPIRED_DEVICE_CODE_KEPT = 3600;

/** The artifact's columns, in the order UPSERT_SQL takes them after model and id. */
const UPSERT_SQL = `INSERT INTO "OidcArtifact" ("model", "id", "payload", "grantId", "clientId", "accountId", "userCode", "uid", "expiresAt")
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT ("model", "id") DO UPDATE SET "payload" = excluded."payload", "grantId" = excluded."grantId", "clientId" = excluded."clientId",
    "accountId" = excluded."accountId", "userCode" = excluded."userCode", "uid" = excluded."uid", "expiresAt" = excluded."expiresAt"`;
const SELECT_SQL = `SELECT "payload", "clientId", "expiresAt", "consumedAt", "graceUsedAt" FROM "OidcArtifact" WHERE "model" = $1 AND`;

/**
 * oidc-provider's Adapter class over the OidcArtifact table. Its statements run on the driver
 * (direct-sql.ts): they are the SQL of every token request, a refresh runs five of them.
 */
export function createOidcAdapter(db: Database, options: AdapterOptions, revocations: RevocationRepository) {
  const revokeAccessToken = options.revokeAccessToken ?? revokeThrough(revocations);
  const sql = directSql(db);
  const { revocations: revocationList } = options;
  /**
   * Opaque access tokens found, by hash of their value, with their model: a value names one artifact of
   * one model, so a token kept as ClientCredentials is known not to be an AccessToken (oidc-provider's
   * introspection looks a token up as each model) without a query.
   */
  const accessTokens = revocationList ? new VerifiedTokenCache<{ model: string; payload: AdapterPayload }>({ maxTtlSeconds: ACCESS_TOKEN_CACHE_SECONDS }) : undefined;
  return class GatehouseOidcAdapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      // A device code outlives its exp by EXPIRED_DEVICE_CODE_KEPT: oidc-provider checks exp itself and
      // answers a device polling it with expired_token (RFC 8628 §3.5), not invalid_grant.
      const kept = this.model === "DeviceCode" ? EXPIRED_DEVICE_CODE_KEPT : 0;
      const expiresAt = expiresIn ? new Date(Date.now() + (expiresIn + kept) * 1000) : null;
      const text = (value: unknown) => (typeof value === "string" ? value : null);
      if (accessTokens && OPAQUE_ACCESS_TOKENS.has(this.model)) accessTokens.delete(VerifiedTokenCache.key(id));
      await sql.execute(UPSERT_SQL, [
        this.model,
        id,
        JSON.stringify(payload),
        text(payload.grantId),
        text(payload.clientId),
        text(payload.accountId),
        text(payload.userCode),
        text(payload.uid),
        expiresAt,
      ]);
    }

    // An id no database could hold names nothing (and must not reach a query: PostgreSQL refuses NUL).
    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(id)) return undefined;
      if (this.model === "Client") return options.findClient(id);
      if (accessTokens && OPAQUE_ACCESS_TOKENS.has(this.model)) return this.#findAccessToken(id, accessTokens, revocationList!);
      return this.#load("id", id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(userCode)) return undefined;
      return this.#load("userCode", userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(uid)) return undefined;
      return this.#load("uid", uid);
    }

    async consume(id: string): Promise<void> {
      const now = new Date();
      const count = await sql.execute(`UPDATE "OidcArtifact" SET "consumedAt" = $1 WHERE "model" = $2 AND "id" = $3 AND "consumedAt" IS NULL`, [now, this.model, id]);
      if (count > 0) return;
      // A refresh token find() handed out within its grace period: one extra rotation, and only one.
      if (this.model === "RefreshToken") {
        const [row] = await sql.query(`SELECT "clientId" FROM "OidcArtifact" WHERE "model" = $1 AND "id" = $2`, [this.model, id]);
        const clientId = typeof row?.clientId === "string" ? row.clientId : undefined;
        const graceMs = clientId ? options.refreshTokenReuseGrace(clientId) * 1000 : 0;
        if (graceMs > 0) {
          const graced = await sql.execute(
            `UPDATE "OidcArtifact" SET "graceUsedAt" = $1 WHERE "model" = $2 AND "id" = $3 AND "graceUsedAt" IS NULL AND "consumedAt" > $4`,
            [now, this.model, id, new Date(now.getTime() - graceMs)],
          );
          if (graced > 0) {
            securityEvent("refresh_token_reused_within_grace", { client_id: clientId, grace_seconds: graceMs / 1000 });
            return;
          }
        }
      }
      throw options.alreadyConsumed();
    }

    async destroy(id: string): Promise<void> {
      if (!isStorableText(id)) return;
      if (OPAQUE_ACCESS_TOKENS.has(this.model)) {
        accessTokens?.delete(VerifiedTokenCache.key(id));
        await listRevokedAccessTokens(sql, revokeAccessToken, { id });
      }
      await sql.execute(`DELETE FROM "OidcArtifact" WHERE "model" = $1 AND "id" = $2`, [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (!isStorableText(grantId)) return;
      await listRevokedAccessTokens(sql, revokeAccessToken, { grantId });
      await sql.execute(`DELETE FROM "OidcArtifact" WHERE "grantId" = $1 AND "model" IN (${GRANT_BOUND_SQL})`, [grantId]);
    }

    /**
     * An opaque access token from memory when it was found before and the revocation list refuses
     * none of it (undefined when it was found as the other model); else from the table, then kept until
     * its exp. Each caller gets its own copy.
     */
    async #findAccessToken(id: string, cache: NonNullable<typeof accessTokens>, list: NonNullable<AdapterOptions["revocations"]>): Promise<AdapterPayload | undefined> {
      const key = VerifiedTokenCache.key(id);
      const kept = cache.get(key);
      const revoked = (payload: AdapterPayload) => {
        // An exchanged token (token-exchange.ts) also ends with the grants and clients it came from.
        const extra = payload.extra as { sgid?: unknown; sclient?: unknown } | undefined;
        return list.refuses({ jti: id, gid: payload.grantId, sgid: extra?.sgid, sclient: extra?.sclient, client_id: payload.clientId, sub: payload.accountId, iat: payload.iat });
      };
      options.onAccessTokenLookup?.(kept ? "hit" : "miss");
      if (kept) {
        if (kept.model !== this.model) return undefined;
        if (!revoked(kept.payload)) return { ...kept.payload };
        cache.delete(key);
        return undefined;
      }
      const payload = await this.#load("id", id);
      if (!payload) return undefined;
      // Refused as a kept one would be (a revocation that landed while the row was read, a mark its row outlived).
      if (revoked(payload)) return undefined;
      if (typeof payload.exp === "number") cache.set(key, { model: this.model, payload: { ...payload } }, payload.exp * 1000);
      return payload;
    }

    async #load(column: "id" | "uid" | "userCode", value: string): Promise<AdapterPayload | undefined> {
      const [found] = await sql.query(`${SELECT_SQL} "${column}" = $2 LIMIT 1`, [this.model, value]);
      if (!found) return undefined;
      const row = artifactRow(found);
      const now = Date.now();
      if (row.expiresAt && row.expiresAt.getTime() <= now) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      if (row.consumedAt && !this.#withinGrace(row, now)) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
      return payload;
    }

    /** A consumed refresh token still within its client's reuse grace period, not yet presented again. */
    #withinGrace(row: { clientId: string | null; consumedAt: Date | null; graceUsedAt: Date | null }, now: number): boolean {
      if (this.model !== "RefreshToken" || !row.clientId || !row.consumedAt || row.graceUsedAt) return false;
      return now - row.consumedAt.getTime() < options.refreshTokenReuseGrace(row.clientId) * 1000;
    }
  };
}

/** A row of SELECT_SQL, typed. */
function artifactRow(row: SqlRow): { payload: string; clientId: string | null; expiresAt: Date | null; consumedAt: Date | null; graceUsedAt: Date | null } {
  return {
    payload: row.payload as string,
    clientId: (row.clientId as string | null) ?? null,
    expiresAt: sqlTime(row.expiresAt),
    consumedAt: sqlTime(row.consumedAt),
    graceUsedAt: sqlTime(row.graceUsedAt),
  };
}

/**
 * Ends everything issued to a client: its grants, codes, refresh and opaque access tokens, device codes.
 * Sessions are the user's, not the client's: they stay (their entry for this client points at a grant
 * that no longer exists). Returns how many artifacts were deleted.
 */
export async function revokeClientArtifacts(db: Database, clientId: string): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { clientId, model: { not: "Session" } } })).count;
}

/** A grant (oidc-provider's "Grant" artifact): what a user allowed a client, from which its tokens are issued. */
export interface GrantArtifact {
  grantId: string;
  clientId: string;
  /** From the grant's iat and exp claims, when it has them. */
  issuedAt: Date | null;
  expiresAt: Date | null;
}

/** The user's grants, oldest first. */
export async function accountGrants(db: Database, accountId: string): Promise<GrantArtifact[]> {
  const rows = await db.oidcArtifact.findMany({ where: { model: "Grant", accountId }, select: { id: true, clientId: true, payload: true, expiresAt: true } });
  const grants = rows.map((row) => {
    const { iat } = JSON.parse(row.payload) as { iat?: unknown };
    return { grantId: row.id, clientId: row.clientId ?? "", issuedAt: typeof iat === "number" ? new Date(iat * 1000) : null, expiresAt: row.expiresAt };
  });
  return grants.sort((a, b) => (a.issuedAt?.getTime() ?? 0) - (b.issuedAt?.getTime() ?? 0));
}

/** Deletes a grant and everything issued from it (codes, refresh and opaque access tokens). Returns how many artifacts went. */
export async function revokeGrantArtifacts(db: Database, revocations: RevocationRepository, grantId: string): Promise<number> {
  if (!isStorableText(grantId)) return 0;
  await listRevokedAccessTokens(directSql(db), revokeThrough(revocations), { grantId });
  return (await db.oidcArtifact.deleteMany({ where: { OR: [{ model: "Grant", id: grantId }, { grantId }] } })).count;
}

/** Ends everything issued to a user: sessions (signed out everywhere), grants, codes and tokens. */
export async function revokeAccountArtifacts(db: Database, accountId: string): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { accountId } })).count;
}

/** Deletes expired artifacts; run on a schedule. */
export async function purgeExpiredArtifacts(db: Database, now = new Date()): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { expiresAt: { lt: now } } })).count;
}
