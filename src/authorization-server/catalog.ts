// The in-memory read model of clients, APIs, scopes, trusted assertion issuers and users, so that token
// requests do not query the database for them. APIs, scopes and issuers are few and held whole. Clients
// and users can be many (100,000 and more): the catalog holds the ones in use (bounded caches, least
// recently used out first), looks any other up in the database when it is first asked for, and keeps for
// every enabled client only its CORS origins (what a preflight, which names no client, is answered from).
// It follows the change log (change-feed.ts): a change to one client, API, scope, issuer or user reloads
// (or forgets) that entry alone; a move of the "config" revision the log cannot account for reloads everything
// (announced by whoever wrote it, and checked every CONFIG_POLL_MS). A client_id, resource or issuer not
// found in the database is remembered for a few seconds, so unknown ids cannot be used to make the
// server query the database for every request; a change naming it forgets that at once.
import type { Storage, ClientRecord, ApiRecord, ScopeRecord, AdapterPayload, AssertionIssuerRecord, ConfigChange, UserRecord } from "../storage/index.ts";
import { clientMetadata } from "./client-metadata.ts";
import { STANDARD_SCOPES } from "../services/scopes.ts";
import { corsOriginsOf } from "../services/client-origins.ts";
import { log } from "../shared/logger.ts";
import { authorizationServerMetrics } from "../shared/metrics.ts";
import { ExpiringCache } from "../shared/expiring-cache.ts";

const NO_ORIGINS: ReadonlySet<string> = new Set();

/** A user as the catalog holds it: without the password hash, which accounts never need. */
export type AccountUser = Omit<UserRecord, "passwordHash">;

/** A client in use: its record and its metadata as oidc-provider sees it (undefined when disabled). */
interface CachedClient {
  record: ClientRecord;
  metadata: AdapterPayload | undefined;
}

export class Catalog {
  private readonly storage: Storage;
  /** Clients in use, least recently used first (a Map keeps insertion order; a hit moves to the end). */
  private clients = new Map<string, CachedClient>();
  /** Every enabled client's CORS origins, for those that have any. */
  private corsOriginsById = new Map<string, Set<string>>();
  /** Every enabled client's CORS origins together, each with how many clients have it: what a preflight (which names no client) is answered for. */
  private anyCorsOrigin = new Map<string, number>();
  private apisById = new Map<string, ApiRecord>();
  private scopeList: ScopeRecord[] = [];
  private issuersById = new Map<string, AssertionIssuerRecord>();
  private version = -1;
  private scopeNameList: string[] = [...STANDARD_SCOPES];
  /** Ids recently looked up and not found: "client:<id>", "api:<identifier>" or "issuer:<iss>" -> until (epoch ms). */
  private readonly unknown = new Map<string, number>();
  private readonly clientCacheEntries: number;
  /** Users in use (the accounts of refresh, userinfo and ID tokens), by id. */
  private readonly users: ExpiringCache<AccountUser>;
  /**
   * Moves on with every user change applied and every full reload: a lookup that straddles one is not
   * kept (what it read may predate the change).
   */
  private userGeneration = 0;

  /** How long an id not found in the database is not looked up again, in milliseconds. */
  static readonly NEGATIVE_CACHE_MS = 5000;
  private static readonly NEGATIVE_CACHE_ENTRIES = 10_000;
  /** Clients held at most (each about 5 KB with oidc-provider's metadata). */
  static readonly CLIENT_CACHE_ENTRIES = 10_000;
  /** Users held at most. */
  static readonly USER_CACHE_ENTRIES = 10_000;
  /**
   * Longest a user is held without being read again, in milliseconds: the change log makes every
   * instance forget a changed user within milliseconds; this bounds what a lost change could cost.
   */
  static readonly USER_CACHE_MS = 60_000;

  /** @param options.clientCacheEntries clients held at most (CLIENT_CACHE_ENTRIES) */
  constructor(storage: Storage, options: { clientCacheEntries?: number } = {}) {
    this.storage = storage;
    this.clientCacheEntries = options.clientCacheEntries ?? Catalog.CLIENT_CACHE_ENTRIES;
    this.users = new ExpiringCache({ maxTtlSeconds: Catalog.USER_CACHE_MS / 1000, maxEntries: Catalog.USER_CACHE_ENTRIES });
  }

  /**
   * The client, if it is in use: findClientMetadata (what oidc-provider calls first for every request
   * naming a client) has put it here. Undefined for one not looked up yet.
   */
  client(clientId: string): ClientRecord | undefined {
    return this.touch(clientId)?.record;
  }

  /** Origins whose pages may call the token endpoints as this client (client-origins.ts); empty when unknown or disabled. */
  corsOrigins(clientId: string): ReadonlySet<string> {
    return this.corsOriginsById.get(clientId) ?? NO_ORIGINS;
  }

  /** Whether origin is one of some enabled client's CORS origins. */
  isCorsOrigin(origin: string): boolean {
    return this.anyCorsOrigin.has(origin);
  }

  /** The client as oidc-provider sees it, if it is in use; undefined when not looked up yet, unknown or disabled. */
  clientMetadata(clientId: string): AdapterPayload | undefined {
    return this.touch(clientId)?.metadata;
  }

  /** The client as oidc-provider sees it, looking it up in the database when it is not in use yet; undefined when unknown or disabled. */
  async findClientMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    const cached = this.touch(clientId);
    if (cached) return cached.metadata;
    const client = await this.lookUp(`client:${clientId}`, () => this.storage.clients.find(clientId));
    if (!client) return undefined;
    return this.cache(client).metadata;
  }

  /** The cached client, moved to the most recently used end. */
  private touch(clientId: string): CachedClient | undefined {
    const cached = this.clients.get(clientId);
    if (cached) {
      this.clients.delete(clientId);
      this.clients.set(clientId, cached);
    }
    return cached;
  }

  /** Holds the client as in use (the least recently used one leaves when full). */
  private cache(record: ClientRecord): CachedClient {
    // Built once per load: oidc-provider hashes what it is given to find its compiled client.
    const entry = { record, metadata: clientMetadata(record) };
    this.clients.delete(record.clientId);
    this.clients.set(record.clientId, entry);
    if (this.clients.size > this.clientCacheEntries) this.clients.delete(this.clients.keys().next().value as string);
    return entry;
  }

  /** Sets (or, with none, removes) the CORS origins an enabled client contributes, keeping the counts right. */
  private indexOrigins(clientId: string, origins: ReadonlySet<string> | undefined): void {
    for (const origin of this.corsOriginsById.get(clientId) ?? []) {
      const count = (this.anyCorsOrigin.get(origin) ?? 1) - 1;
      if (count > 0) this.anyCorsOrigin.set(origin, count);
      else this.anyCorsOrigin.delete(origin);
    }
    this.corsOriginsById.delete(clientId);
    if (!origins?.size) return;
    this.corsOriginsById.set(clientId, new Set(origins));
    for (const origin of origins) this.anyCorsOrigin.set(origin, (this.anyCorsOrigin.get(origin) ?? 0) + 1);
  }

  /**
   * The user with this id (the accounts' sub), from memory when in use, else from the database (then
   * held until a change names it, at most USER_CACHE_MS). Undefined when there is none; a miss is not
   * remembered.
   */
  async findUser(id: string): Promise<AccountUser | undefined> {
    const cached = this.users.get(id);
    authorizationServerMetrics.cacheLookup("user", cached ? "hit" : "miss");
    if (cached) return cached;
    const generation = this.userGeneration;
    const found = await this.storage.users.findById(id);
    if (!found) return undefined;
    const { passwordHash: _hash, ...user } = found;
    if (generation === this.userGeneration) this.users.set(id, user, Infinity);
    return user;
  }

  /** api(), looking an API this catalog has not loaded yet up in the database first. */
  async findApi(identifier: string): Promise<ApiRecord | undefined> {
    const known = this.apisById.get(identifier);
    if (known) return known;
    const api = await this.lookUp(`api:${identifier}`, () => this.storage.apis.find(identifier));
    if (api) this.apisById.set(identifier, api);
    return api ?? undefined;
  }

  /** The trusted assertion issuer (enabled or not), looking one not loaded yet up in the database first. */
  async findIssuer(issuer: string): Promise<AssertionIssuerRecord | undefined> {
    const known = this.issuersById.get(issuer);
    if (known) return known;
    const found = await this.lookUp(`issuer:${issuer}`, () => this.storage.assertionIssuers.find(issuer));
    if (found) this.issuersById.set(issuer, found);
    return found;
  }

  private async lookUp<T>(key: string, find: () => Promise<T | null>): Promise<T | undefined> {
    const now = Date.now();
    if ((this.unknown.get(key) ?? 0) > now) return undefined;
    const found = await find();
    if (found) return found;
    if (this.unknown.size >= Catalog.NEGATIVE_CACHE_ENTRIES) this.unknown.delete(this.unknown.keys().next().value as string);
    this.unknown.set(key, now + Catalog.NEGATIVE_CACHE_MS);
    return undefined;
  }

  api(identifier: string): ApiRecord | undefined {
    return this.apisById.get(identifier);
  }

  apis(): ApiRecord[] {
    return [...this.apisById.values()];
  }


  /** Every scope name Gatehouse knows: standard OIDC ones, registered ones, and those of APIs. */
  scopeNames(): string[] {
    return this.scopeNameList;
  }

  scopeDescription(name: string): string | undefined {
    return this.scopeList.find((s) => s.name === name)?.description;
  }


  /**
   * Brings the catalog to the stored "config" revision (`version`; read when not given): applies the
   * logged `changes` entry by entry when they start from the loaded revision, else reloads everything
   * (always, with force). Returns whether anything was loaded.
   */
  async refresh({ force = false, version, changes }: { force?: boolean; version?: number; changes?: { from: number; changes: ConfigChange[] } | null } = {}): Promise<boolean> {
    version ??= (await this.storage.revisions.read()).config;
    if (!force && version === this.version) return false;
    if (!force && changes && changes.from === this.version) {
      await this.apply(changes.changes);
      this.version = version;
      return true;
    }
    const [apis, scopes, issuers] = await Promise.all([this.storage.apis.list(), this.storage.scopes.list(), this.storage.assertionIssuers.list()]);
    this.corsOriginsById = new Map();
    this.anyCorsOrigin = new Map();
    let clients = 0;
    await this.storage.clients.forEachOriginSource((client) => {
      clients++;
      this.indexOrigins(client.clientId, corsOriginsOf(client));
    });
    // Clients and users in use are looked up again when next asked for.
    this.clients = new Map();
    this.forgetUsers();
    this.apisById = new Map(apis.map((a) => [a.identifier, a]));
    this.scopeList = scopes;
    this.issuersById = new Map(issuers.map((i) => [i.issuer, i]));
    this.indexScopeNames();
    this.unknown.clear();
    this.version = version;
    log.debug("catalog loaded", { version, clients, apis: apis.length, scopes: scopes.length });
    return true;
  }

  /** Reloads the entries the changes name, each once, from the database (a deleted one leaves). */
  private async apply(changes: ConfigChange[]): Promise<void> {
    const named = new Map(changes.map((c) => [`${c.entity}:${c.key}`, c]));
    let scopesMoved = false;
    for (const { entity, key } of named.values()) {
      if (entity === "client") {
        const client = await this.storage.clients.find(key);
        this.indexOrigins(key, client?.enabled ? corsOriginsOf(client) : undefined);
        if (client && this.clients.has(key)) this.cache(client);
        else this.clients.delete(key);
      }
      else if (entity === "api") {
        const api = await this.storage.apis.find(key);
        if (api) this.apisById.set(key, api);
        else this.apisById.delete(key);
        scopesMoved = true;
      } else if (entity === "issuer") {
        const issuer = await this.storage.assertionIssuers.find(key);
        if (issuer) this.issuersById.set(key, issuer);
        else this.issuersById.delete(key);
      } else if (entity === "scope") scopesMoved = true;
      else if (entity === "user") this.forgetUsers(key);
      // A name looked up and not found a moment ago may exist now.
      this.unknown.delete(`${entity}:${key}`);
    }
    if (scopesMoved) {
      this.scopeList = await this.storage.scopes.list();
      this.indexScopeNames();
    }
    log.debug("catalog changes applied", { version: this.version, changes: named.size });
  }

  /** Forgets one user (or, with no id, every one), and any lookup still running. */
  private forgetUsers(id?: string): void {
    if (id === undefined) this.users.clear();
    else this.users.delete(id);
    this.userGeneration++;
  }

  private indexScopeNames(): void {
    const apis = [...this.apisById.values()];
    this.scopeNameList = [...new Set([...STANDARD_SCOPES, ...this.scopeList.map((s) => s.name), ...apis.flatMap((a) => a.scopes)])].sort();
  }
}
