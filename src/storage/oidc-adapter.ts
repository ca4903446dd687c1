// oidc-provider's storage contract (its seven-method Adapter) over the OidcArtifact table. Every
// lookup it makes is indexed (model+id primary key, uid, userCode, grantId); consume is a single
// conditional UPDATE, so of two concurrent code exchanges exactly one wins. A refresh token consumed
// less than its client's reuse grace period ago reads as unused once more, and may be consumed once
// more (a client that lost the response of its refresh retries with the same token); after that, or
// later, presenting it is reuse, which oidc-provider answers by revoking the grant.
// An opaque access token destroyed (revoked, or with its grant) is also put on the revocation list,
// by its value, so gateways that cached its introspection refuse it at once (introspection.ts).
import { securityEvent } from "../shared/logger.ts";
import { isStorableText } from "../shared/storable-text.ts";
import type { Database } from "./database.ts";
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
}

/** oidc-provider's models of opaque access tokens: of a grant, and of the client credentials grant. */
const OPAQUE_ACCESS_TOKENS: ReadonlySet<string> = new Set(["AccessToken", "ClientCredentials"]);

/** Artifacts that belong to a grant and die with it (the Grant record itself is destroyed by oidc-provider). */
const GRANT_BOUND = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest"]);

/**
 * Puts the opaque access tokens `where` selects, unexpired, on the revocation list (kind "jti", the
 * token's value), before they are deleted.
 */
async function listRevokedAccessTokens(db: Database, revoke: (id: string, expiresAt: Date) => Promise<void>, where: { id?: string; grantId?: string }): Promise<void> {
  const rows = await db.oidcArtifact.findMany({ where: { ...where, model: { in: [...OPAQUE_ACCESS_TOKENS] }, expiresAt: { gt: new Date() } }, select: { id: true, expiresAt: true } });
  for (const row of rows) await revoke(row.id, row.expiresAt!);
}

/** The default of AdapterOptions.revokeAccessToken: stored and announced. */
function revokeThrough(revocations: RevocationRepository): (id: string, expiresAt: Date) => Promise<void> {
  return (id, expiresAt) => revocations.add({ kind: "jti", id, expiresAt });
}

/** Seconds an expired device code stays findable, so that polling it answers expired_token. */
export const EXPIRED_DEVICE_CODE_KEPT = 3600;

export function createOidcAdapter(db: Database, options: AdapterOptions, revocations: RevocationRepository) {
  const revokeAccessToken = options.revokeAccessToken ?? revokeThrough(revocations);
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
      const data = {
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        clientId: typeof payload.clientId === "string" ? payload.clientId : null,
        accountId: typeof payload.accountId === "string" ? payload.accountId : null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expiresAt,
      };
      await db.oidcArtifact.upsert({
        where: { model_id: { model: this.model, id } },
        create: { model: this.model, id, ...data },
        update: data,
      });
    }

    // An id no database could hold names nothing (and must not reach a query: PostgreSQL refuses NUL).
    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(id)) return undefined;
      if (this.model === "Client") return options.findClient(id);
      return this.#load({ model: this.model, id });
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(userCode)) return undefined;
      return this.#load({ model: this.model, userCode });
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(uid)) return undefined;
      return this.#load({ model: this.model, uid });
    }

    async consume(id: string): Promise<void> {
      const now = new Date();
      const { count } = await db.oidcArtifact.updateMany({
        where: { model: this.model, id, consumedAt: null },
        data: { consumedAt: now },
      });
      if (count > 0) return;
      // A refresh token find() handed out within its grace period: one extra rotation, and only one.
      if (this.model === "RefreshToken") {
        const row = await db.oidcArtifact.findUnique({ where: { model_id: { model: this.model, id } }, select: { clientId: true } });
        const graceMs = row?.clientId ? options.refreshTokenReuseGrace(row.clientId) * 1000 : 0;
        if (graceMs > 0) {
          const { count: graced } = await db.oidcArtifact.updateMany({
            where: { model: this.model, id, graceUsedAt: null, consumedAt: { gt: new Date(now.getTime() - graceMs) } },
            data: { graceUsedAt: now },
          });
          if (graced > 0) {
            securityEvent("refresh_token_reused_within_grace", { client_id: row!.clientId, grace_seconds: graceMs / 1000 });
            return;
          }
        }
      }
      throw options.alreadyConsumed();
    }

    async destroy(id: string): Promise<void> {
      if (OPAQUE_ACCESS_TOKENS.has(this.model) && isStorableText(id)) await listRevokedAccessTokens(db, revokeAccessToken, { id });
      await db.oidcArtifact.deleteMany({ where: { model: this.model, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await listRevokedAccessTokens(db, revokeAccessToken, { grantId });
      await db.oidcArtifact.deleteMany({ where: { grantId, model: { in: [...GRANT_BOUND] } } });
    }

    async #load(where: { model: string; id?: string; uid?: string; userCode?: string }): Promise<AdapterPayload | undefined> {
      const row = await db.oidcArtifact.findFirst({ where });
      const now = Date.now();
      if (!row || (row.expiresAt && row.expiresAt.getTime() <= now)) return undefined;
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
  await listRevokedAccessTokens(db, revokeThrough(revocations), { grantId });
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
