// The in-memory read model of clients, APIs and scopes. Token requests never query the database for
// them: the catalog loads everything once and reloads when the "config" revision moves (checked every
// CONFIG_POLL_MS, and at once after a change made by this process).
import type { Storage, ClientRecord, ApiRecord, ScopeRecord, AdapterPayload } from "../storage/index.ts";
import { clientMetadata } from "./client-metadata.ts";
import { STANDARD_SCOPES } from "../services/scopes.ts";
import { log } from "../shared/logger.ts";

export class Catalog {
  private readonly storage: Storage;
  private clientsById = new Map<string, ClientRecord>();
  private metadataById = new Map<string, AdapterPayload | undefined>();
  private apisById = new Map<string, ApiRecord>();
  private scopeList: ScopeRecord[] = [];
  private version = -1;
  private scopeNameList: string[] = [...STANDARD_SCOPES];

  constructor(storage: Storage) {
    this.storage = storage;
  }

  client(clientId: string): ClientRecord | undefined {
    return this.clientsById.get(clientId);
  }

  /** The client as oidc-provider sees it; undefined when unknown or disabled. */
  clientMetadata(clientId: string): AdapterPayload | undefined {
    return this.metadataById.get(clientId);
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
  /** Reloads when the stored revision (read here unless the change feed already did) differs from the loaded one. */
  async refresh({ force = false, version }: { force?: boolean; version?: number } = {}): Promise<boolean> {
    version ??= (await this.storage.revisions.read()).config;
    if (!force && version === this.version) return false;
    const [clients, apis, scopes] = await Promise.all([this.storage.clients.list(), this.storage.apis.list(), this.storage.scopes.list()]);
    this.clientsById = new Map(clients.map((c) => [c.clientId, c]));
    // Built once per load: oidc-provider hashes what it is given to find its compiled client.
    this.metadataById = new Map(clients.map((c) => [c.clientId, clientMetadata(c)]));
    this.apisById = new Map(apis.map((a) => [a.identifier, a]));
    this.scopeList = scopes;
    this.scopeNameList = [...new Set([...STANDARD_SCOPES, ...scopes.map((s) => s.name), ...apis.flatMap((a) => a.scopes)])].sort();
    this.version = version;
    log.debug("catalog loaded", { version, clients: clients.length, apis: apis.length, scopes: scopes.length });
    return true;
  }
}
