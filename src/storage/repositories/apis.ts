import type { Database } from "../database.ts";
import type { Api as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";

/** The typ header values a trusted issuer's access tokens may carry ("none": no typ). */
export const TRUSTED_TOKEN_TYPES = ["at+jwt", "jwt", "none"] as const;

export interface TrustedIssuer {
  issuer: string;
  jwksUri: string;
  algorithms: string[];
  /** Some of TRUSTED_TOKEN_TYPES; absent: all (the gateway still refuses tokens with an ID token's marks). */
  tokenTypes?: readonly string[];
}

/** Outbound OAuth (client credentials at an external identity provider) for a backend that demands it. */
export interface OutboundOAuth {
  tokenUrl: string;
  clientId: string;
  /** Sealed with KEY_ENCRYPTION_SECRET (services/sealing.ts); may seal a ${NAME} reference. */
  clientSecretSealed: string;
  authMethod: "basic" | "body";
  scope: string | null;
  resource: string | null;
  header: string;
  removeHeaders: string[];
}

export interface ApiRecord {
  identifier: string;
  name: string;
  tokenFormat: "jwt" | "opaque";
  accessTokenTtl: number;
  scopes: string[];
  tokenCheck: "jwt" | "introspection";
  trustedIssuers: TrustedIssuer[];
  allowQueryToken: boolean;
  claimHeaders: Record<string, string>;
  forwardToken: "none" | "original" | "signed";
  outboundOAuth: OutboundOAuth | null;
  /** Clients that may introspect this API's access tokens besides each token's own client and the gateway. */
  introspectionClients: string[];
}

function toRecord(row: Row): ApiRecord {
  return {
    identifier: row.identifier,
    name: row.name,
    tokenFormat: row.tokenFormat === "opaque" ? "opaque" : "jwt",
    accessTokenTtl: row.accessTokenTtl,
    scopes: stringList(row.scopes),
    tokenCheck: row.tokenCheck === "introspection" ? "introspection" : "jwt",
    trustedIssuers: Array.isArray(row.trustedIssuers) ? (row.trustedIssuers as unknown as TrustedIssuer[]) : [],
    allowQueryToken: row.allowQueryToken,
    claimHeaders: record(row.claimHeaders) as Record<string, string>,
    forwardToken: row.forwardToken === "original" || row.forwardToken === "signed" ? row.forwardToken : "none",
    outboundOAuth: row.outboundOAuth ? (record(row.outboundOAuth) as unknown as OutboundOAuth) : null,
    introspectionClients: stringList(row.introspectionClients),
  };
}

function toRow(api: ApiRecord) {
  return { ...api, outboundOAuth: api.outboundOAuth ?? undefined, trustedIssuers: api.trustedIssuers as object[] };
}

export class ApiRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async list(): Promise<ApiRecord[]> {
    return (await this.db.api.findMany({ orderBy: { identifier: "asc" } })).map(toRecord);
  }

  async find(identifier: string): Promise<ApiRecord | null> {
    if (!storable(identifier)) return null;
    const row = await this.db.api.findUnique({ where: { identifier } });
    return row ? toRecord(row) : null;
  }

  async upsert(api: ApiRecord): Promise<ApiRecord> {
    assertStorable("API", api);
    const { identifier, ...rest } = toRow(api);
    const update = { ...rest, outboundOAuth: api.outboundOAuth ?? null } as never;
    return toRecord(await this.db.api.upsert({ where: { identifier }, create: toRow(api) as never, update }));
  }

  async delete(identifier: string): Promise<boolean> {
    if (!storable(identifier)) return false;
    return (await this.db.api.deleteMany({ where: { identifier } })).count > 0;
  }
}
