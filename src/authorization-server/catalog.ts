// The in-memory read model of clients, APIs, scopes and trusted assertion issuers. Token requests do not query the database for
// them: the catalog loads everything once and reloads when the "config" revision moves (announced by
// whoever wrote it, and checked every CONFIG_POLL_MS). A client_id or resource it does not know yet is
// looked up in the database once before it is refused (read-your-writes for a client created a moment
// ago by the CLI), and an unknown one is remembered for a few seconds, so unknown ids cannot be used to
// make the server query the database for every request.
import type { Storage, ClientRecord, ApiRecord, ScopeRecord, AdapterPayload, AssertionIssuerRecord } from "../storage/index.ts";
import { clientMetadata } from "./client-metadata.ts";
import { STANDARD_SCOPES } from "../services/scopes.ts";
import { corsOriginsOf } from "../services/client-origins.ts";
import { log } from "../shared/logger.ts";

const NO_ORIGINS: ReadonlySet<string> = new Set();

export class Catalog {
  private readonly storage: Storage;
  private clientsById = new Map<string, ClientRecord>();
  private metadataById = new Map<string, AdapterPayload | undefined>();
  private corsOriginsById = new Map<string, Set<string>>();
  /** Every enabled client's CORS origins together: what a preflight (which names no client) is answered for. */
  private anyCorsOrigin = new Set<string>();
  private apisById = new Map<string, ApiRecord>();
  private scopeList: ScopeRecord[] = [];
  private issuersById = new Map<string, AssertionIssuerRecord>();
  private version = -1;
  private scopeNameList: string[] = [...STANDARD_SCOPES];
  /** Ids recently looked up and not found: "client:<id>", "api:<identifier>" or "issuer:<iss>" -> until (epoch ms). */
  private readonly unknown = new Map<string, number>();

  /** How long an id not found in the database is not looked up again, in milliseconds. */
  static readonly NEGATIVE_CACHE_MS = 5000;
  private static readonly NEGATIVE_CACHE_ENTRIES = 10_000;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  client(clientId: string): ClientRecord | undefined {
    return this.clientsById.get(clientId);
  }

  /** Origins whose pages may call the token endpoints as this client (client-origins.ts); empty when unknown or disabled. */
  corsOrigins(clientId: string): ReadonlySet<string> {
    return this.corsOriginsById.get(clientId) ?? NO_ORIGINS;
  }

  /** Whether origin is one of some enabled client's CORS origins. */
  isCorsOrigin(origin: string): boolean {
    return this.anyCorsOrigin.has(origin);
  }

  /** The client as oidc-provider sees it; undefined when unknown or disabled. */
  clientMetadata(clientId: string): AdapterPayload | undefined {
    return this.metadataById.get(clientId);
  }

  /** clientMetadata, looking a client this catalog has not loaded yet up in the database first. */
  async findClientMetadata(clientId: string): Promise<AdapterPayload | undefined> {
    if (this.clientsById.has(clientId)) return this.metadataById.get(clientId);
    const client = await this.lookUp(`client:${clientId}`, () => this.storage.clients.find(clientId));
    if (!client) return undefined;
    this.clientsById.set(clientId, client);
    this.metadataById.set(clientId, clientMetadata(client));
    if (client.enabled) {
      const origins = corsOriginsOf(client);
      this.corsOriginsById.set(clientId, origins);
      for (const origin of origins) this.anyCorsOrigin.add(origin);
    }
    return this.metadataById.get(clientId);
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


  /** Reloads when the stored revision differs from the loaded one (or always, with force). */

  async refresh({ force = false, version }: { force?: boolean; version?: number } = {}): Promise<boolean> {
    version ??= (await this.storage.revisions.read()).config;
    if (!force && version === this.version) return false;
    const [clients, apis, scopes, issuers] = await Promise.all([
      this.storage.clients.list(),
      this.storage.apis.list(),
      this.storage.scopes.list(),
      this.storage.assertionIssuers.list(),
    ]);
    this.clientsById = new Map(clients.map((c) => [c.clientId, c]));
    // Built once per load: oidc-provider hashes what it is given to find its compiled client.
    this.metadataById = new Map(clients.map((c) => [c.clientId, clientMetadata(c)]));
    this.corsOriginsById = new Map(clients.filter((c) => c.enabled).map((c) => [c.clientId, corsOriginsOf(c)]));
    this.anyCorsOrigin = new Set([...this.corsOriginsById.values()].flatMap((origins) => [...origins]));
    this.apisById = new Map(apis.map((a) => [a.identifier, a]));
    this.scopeList = scopes;
    this.issuersById = new Map(issuers.map((i) => [i.issuer, i]));
    this.scopeNameList = [...new Set([...STANDARD_SCOPES, ...scopes.map((s) => s.name), ...apis.flatMap((a) => a.scopes)])].sort();
    this.unknown.clear();
    this.version = version;
    log.debug("catalog loaded", { version, clients: clients.length, apis: apis.length, scopes: scopes.length });
    return true;
  }
}
