import type { Database } from "../database.ts";
import type { ApiRoute as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { forEachBatch } from "../paging.ts";
import { storedPolicies, type StoredPolicies } from "./apis.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

/** Scopes a request needs: all of allOf, and at least one of anyOf when anyOf is not empty. */
export interface ScopeRequirement {
  allOf: string[];
  anyOf: string[];
}

export interface RouteRecord {
  id: string;
  apiIdentifier: string;
  pathPrefix: string;
  host: string | null;
  methods: string[];
  upstream: string;
  /** "strip", "keep", or a path that replaces the prefix. */
  rewrite: string;
  /** Per method ("GET", "POST", ...) with "*" for the others. */
  scopes: Record<string, ScopeRequirement>;
  public: boolean;
  timeoutMs: number;
  maxBodyBytes: number;
  /** Gateway policies attached to the route itself (the API's apply too, see services/policies.ts). */
  policies: StoredPolicies;
}

function toRecord(row: Row): RouteRecord {
  const scopes = Object.fromEntries(
    Object.entries(record(row.scopes)).map(([method, value]) => {
      const requirement = record(value);
      return [method, { allOf: stringList(requirement.allOf), anyOf: stringList(requirement.anyOf) }];
    }),
  );
  return {
    id: row.id,
    apiIdentifier: row.apiIdentifier,
    pathPrefix: row.pathPrefix,
    host: row.host,
    methods: stringList(row.methods),
    upstream: row.upstream,
    rewrite: row.rewrite,
    scopes,
    public: row.public,
    timeoutMs: row.timeoutMs,
    maxBodyBytes: row.maxBodyBytes,
    policies: storedPolicies(row.policies),
  };
}

export class RouteRepository {
  private readonly db: Database;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its route (change-feed.ts) */
  constructor(db: Database, revisions: RevisionRepository) {
    this.db = db;
    this.revisions = revisions;
  }

  async list(apiIdentifier?: string): Promise<RouteRecord[]> {
    if (!storable(apiIdentifier)) return [];
    const rows = await this.db.apiRoute.findMany({
      where: apiIdentifier ? { apiIdentifier } : {},
      // The id last: routes of one API at one prefix come in the same order every time (route-table.ts).
      orderBy: [{ apiIdentifier: "asc" }, { pathPrefix: "asc" }, { id: "asc" }],
    });
    return rows.map(toRecord);
  }

  /**
   * Every route, `batch` at a time in id order (no order a caller can rely on otherwise), so that a large
   * table is never read into memory at once on top of what the caller builds from it.
   */
  async forEach(each: (route: RouteRecord) => void, batch = 2000): Promise<void> {
    await forEachBatch(
      (after) => this.db.apiRoute.findMany({ where: after === undefined ? {} : { id: { gt: after } }, orderBy: { id: "asc" }, take: batch }),
      (row) => row.id,
      (row) => each(toRecord(row)),
      batch,
    );
  }

  async find(id: string): Promise<RouteRecord | null> {
    if (!storable(id)) return null;
    const row = await this.db.apiRoute.findUnique({ where: { id } });
    return row ? toRecord(row) : null;
  }

  async save(route: RouteRecord): Promise<RouteRecord> {
    assertStorable("route", route);
    const { id, ...rest } = route;
    return toRecord(await this.revisions.changeWith(this.db.apiRoute.upsert({ where: { id }, create: route as never, update: rest as never }), { entity: "route", key: id }));
  }

  async delete(id: string): Promise<boolean> {
    if (!storable(id)) return false;
    return (await this.revisions.changeWith(this.db.apiRoute.deleteMany({ where: { id } }), { entity: "route", key: id })).count > 0;
  }
}
