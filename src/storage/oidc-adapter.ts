// oidc-provider's storage contract (its seven-method Adapter) over the OidcArtifact table. Every
// lookup it makes is indexed (model+id primary key, uid, userCode, grantId); consume is a single
// conditional UPDATE, so of two concurrent code exchanges exactly one wins.
import type { Database } from "./database.ts";

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
}

/** Artifacts that belong to a grant and die with it (the Grant record itself is destroyed by oidc-provider). */
const GRANT_BOUND = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest"]);

export function createOidcAdapter(db: Database, options: AdapterOptions) {
  return class GatehouseOidcAdapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
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

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === "Client") return options.findClient(id);
      return this.#load({ model: this.model, id });
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#load({ model: this.model, userCode });
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#load({ model: this.model, uid });
    }

    async consume(id: string): Promise<void> {
      const { count } = await db.oidcArtifact.updateMany({
        where: { model: this.model, id, consumedAt: null },
        data: { consumedAt: new Date() },
      });
      if (count === 0) throw options.alreadyConsumed();
    }

    async destroy(id: string): Promise<void> {
      await db.oidcArtifact.deleteMany({ where: { model: this.model, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db.oidcArtifact.deleteMany({ where: { grantId, model: { in: [...GRANT_BOUND] } } });
    }

    async #load(where: { model: string; id?: string; uid?: string; userCode?: string }): Promise<AdapterPayload | undefined> {
      const row = await db.oidcArtifact.findFirst({ where });
      if (!row || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
      return payload;
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

/** Ends everything issued to a user: sessions (signed out everywhere), grants, codes and tokens. */
export async function revokeAccountArtifacts(db: Database, accountId: string): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { accountId } })).count;
}

/** Deletes expired artifacts; run on a schedule. */
export async function purgeExpiredArtifacts(db: Database, now = new Date()): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { expiresAt: { lt: now } } })).count;
}
