import type { Database } from "../database.ts";
import type { Api as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

/** The typ header values a trusted issuer's access tokens may carry ("none": no typ). */
export const TRUSTED_TOKEN_TYPES = ["at+jwt", "jwt", "none"] as const;

export interface TrustedIssuer {
  issuer: string;
  jwksUri: string;
  algorithms: string[];
  /** Some of TRUSTED_TOKEN_TYPES; absent: all (the gateway still refuses tokens with an ID token's marks). */
  tokenTypes?: readonly string[];
}

/**
 * Gateway policies attached to an API or a route: each one's stored configuration by policy id, as the
 * services validated it (services/policies.ts); the gateway compiles them into its route table.
 */
export type StoredPolicies = Record<string, Record<string, unknown>>;

export interface ApiRecord {
  identifier: string;
  name: string;
  tokenFormat: "jwt" | "opaque";
  accessTokenTtl: number;
  scopes: string[];
  tokenCheck: "jwt" | "introspection";
  trustedIssuers: TrustedIssuer[];
  allowQueryToken: boolean;
  /** Clients that may introspect this API's access tokens besides each token's own client and the gateway. */
  introspectionClients: string[];
  policies: StoredPolicies;
}

/** A Json column holding an object of objects (policies); anything else reads as none. */
export function storedPolicies(value: unknown): StoredPolicies {
  const policies: StoredPolicies = {};
  for (const [id, config] of Object.entries(record(value))) {
    if (config && typeof config === "object" && !Array.isArray(config)) policies[id] = config as Record<string, unknown>;
  }
  return policies;
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
    introspectionClients: stringList(row.introspectionClients),
    policies: storedPolicies(row.policies),
  };
}

function toRow(api: ApiRecord) {
  return { ...api, trustedIssuers: api.trustedIssuers as object[], policies: api.policies as object };
}

export class ApiRepository {
  private readonly db: Database;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its API (change-feed.ts) */
  constructor(db: Database, revisions: RevisionRepository) {
    this.db = db;
    this.revisions = revisions;
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
    return toRecord(await this.revisions.changeWith(this.db.api.upsert({ where: { identifier }, create: toRow(api) as never, update: rest as never }), { entity: "api", key: identifier }));
  }

  async delete(identifier: string): Promise<boolean> {
    if (!storable(identifier)) return false;
    return (await this.revisions.changeWith(this.db.api.deleteMany({ where: { identifier } }), { entity: "api", key: identifier })).count > 0;
  }
}
