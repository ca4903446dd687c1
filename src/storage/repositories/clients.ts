import type { Database, DatabaseKind } from "../database.ts";
import { containsText, forEachBatch, type PageQuery } from "../paging.ts";
import type { Client as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

export interface ClientRecord {
  clientId: string;
  name: string;
  confidential: boolean;
  secretHash: string | null;
  /** After a rotation with a grace period: the previous secret's hash, accepted until previousSecretExpiresAt. */
  previousSecretHash: string | null;
  previousSecretExpiresAt: Date | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
  scopes: string[];
  tokenEndpointAuthMethod: string;
  applicationType: "web" | "native";
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUri: string | null;
  accessTokenTtl: number | null;
  idTokenTtl: number | null;
  refreshTokenTtl: number | null;
  /** Seconds a just-rotated refresh token may be presented once more; null: the server's default. */
  refreshTokenReuseGrace: number | null;
  /** Origins allowed CORS at the token endpoints besides those of the redirect URIs (stored canonical). */
  allowedOrigins: string[];
  /** RFC 9449 §5.2: this client's access tokens must be DPoP-bound. */
  dpopBoundAccessTokens: boolean;
  /** RFC 8693: identifiers of the APIs this client may exchange tokens for (empty: none). */
  tokenExchangeTargets: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ClientInput = Omit<ClientRecord, "createdAt" | "updatedAt">;

function toRecord(row: Row): ClientRecord {
  return {
    ...row,
    applicationType: row.applicationType === "native" ? "native" : "web",
    redirectUris: stringList(row.redirectUris),
    postLogoutRedirectUris: stringList(row.postLogoutRedirectUris),
    grantTypes: stringList(row.grantTypes),
    responseTypes: stringList(row.responseTypes),
    scopes: stringList(row.scopes),
    allowedOrigins: stringList(row.allowedOrigins),
    tokenExchangeTargets: stringList(row.tokenExchangeTargets),
    jwks: row.jwks ? (record(row.jwks) as ClientRecord["jwks"]) : null,
  };
}

function toRow(input: Partial<ClientInput>) {
  const { jwks, ...rest } = input;
  return jwks === undefined ? rest : { ...rest, jwks: jwks === null ? undefined : jwks };
}

export class ClientRepository {
  private readonly db: Database;
  private readonly kind: DatabaseKind;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its client (change-feed.ts) */
  constructor(db: Database, kind: DatabaseKind, revisions: RevisionRepository) {
    this.db = db;
    this.kind = kind;
    this.revisions = revisions;
  }

  async list(): Promise<ClientRecord[]> {
    return (await this.db.client.findMany({ orderBy: { createdAt: "asc" } })).map(toRecord);
  }

  /** Seconds: the longest ID token lifetime a client sets (0 when none sets one). */
  async longestIdTokenTtl(): Promise<number> {
    return (await this.db.client.aggregate({ _max: { idTokenTtl: true } }))._max.idTokenTtl ?? 0;
  }

  /**
   * The redirect URIs and allowed origins (what CORS origins derive from) of every enabled client that
   * has any (a machine client has neither: the database leaves it out), read `batch` rows at a time by
   * client_id so that a large catalog never sits in memory whole. Calls `each` once per client, in
   * client_id order.
   */
  async forEachOriginSource(each: (client: Pick<ClientRecord, "clientId" | "redirectUris" | "allowedOrigins">) => void, batch = 5000): Promise<void> {
    await forEachBatch(
      (after) =>
        this.db.client.findMany({
          where: {
            enabled: true,
            OR: [{ NOT: { redirectUris: { equals: [] } } }, { NOT: { allowedOrigins: { equals: [] } } }],
            ...(after === undefined ? {} : { clientId: { gt: after } }),
          },
          select: { clientId: true, redirectUris: true, allowedOrigins: true },
          orderBy: { clientId: "asc" },
          take: batch,
        }),
      (row) => row.clientId,
      (row) => each({ clientId: row.clientId, redirectUris: stringList(row.redirectUris), allowedOrigins: stringList(row.allowedOrigins) }),
      batch,
    );
  }

  /** One page of clients, oldest first, whose id or name contains `search` (any case). */
  async page(query: PageQuery): Promise<{ items: ClientRecord[]; total: number }> {
    if (!storable(query.search)) return { items: [], total: 0 };
    const where = query.search
      ? { OR: [{ clientId: containsText(this.kind, query.search) }, { name: containsText(this.kind, query.search) }] }
      : {};
    const [rows, total] = await Promise.all([
      this.db.client.findMany({ where, orderBy: [{ createdAt: "asc" }, { clientId: "asc" }], skip: query.offset, take: query.limit }),
      this.db.client.count({ where }),
    ]);
    return { items: rows.map(toRecord), total };
  }

  async find(clientId: string): Promise<ClientRecord | null> {
    if (!storable(clientId)) return null;
    const row = await this.db.client.findUnique({ where: { clientId } });
    return row ? toRecord(row) : null;
  }

  async create(input: ClientInput): Promise<ClientRecord> {
    assertStorable("client", input);
    return toRecord(await this.revisions.changeWith(this.db.client.create({ data: toRow(input) as ClientInput & { jwks?: object } }), { entity: "client", key: input.clientId }));
  }

  async update(clientId: string, changes: Partial<ClientInput>): Promise<ClientRecord> {
    assertStorable("client", { clientId, ...changes });
    const data = toRow(changes) as Record<string, unknown>;
    if (changes.jwks === null) data.jwks = null as unknown;
    return toRecord(await this.revisions.changeWith(this.db.client.update({ where: { clientId }, data: data as never }), { entity: "client", key: clientId }));
  }

  async delete(clientId: string): Promise<boolean> {
    if (!storable(clientId)) return false;
    return (await this.revisions.changeWith(this.db.client.deleteMany({ where: { clientId } }), { entity: "client", key: clientId })).count > 0;
  }
}
