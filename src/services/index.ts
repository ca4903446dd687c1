// The services every front end shares: CLI, declarative file, admin API and console.
import type { Storage } from "../storage/index.ts";
import { ApiService } from "./apis.ts";
import { ClientService } from "./clients.ts";
import { KeyService } from "./keys.ts";
import { RouteService } from "./routes.ts";
import { ScopeService } from "./scopes.ts";
import { UserService } from "./users.ts";

export interface Services {
  clients: ClientService;
  scopes: ScopeService;
  apis: ApiService;
  routes: RouteService;
  users: UserService;
  keys: KeyService;
}

export function createServices(storage: Storage, keyEncryptionSecret: string): Services {
  return {
    clients: new ClientService(storage),
    scopes: new ScopeService(storage),
    apis: new ApiService(storage, keyEncryptionSecret),
    routes: new RouteService(storage),
    users: new UserService(storage),
    keys: new KeyService(storage, keyEncryptionSecret),
  };
}
