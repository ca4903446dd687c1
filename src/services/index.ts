// The services every front end shares: CLI, declarative file, admin API and console.
import { defaultLifetimes } from "../config/env.ts";
import type { Storage } from "../storage/index.ts";
import { ApiService } from "./apis.ts";
import { ClientService } from "./clients.ts";
import { KeyService } from "./keys.ts";
import { RouteService } from "./routes.ts";
import { ScopeService } from "./scopes.ts";
import { TokenLifetimes, type LifetimeDefaults } from "./token-lifetimes.ts";
import { UserService } from "./users.ts";

export interface Services {
  clients: ClientService;
  scopes: ScopeService;
  apis: ApiService;
  routes: RouteService;
  users: UserService;
  keys: KeyService;
  lifetimes: TokenLifetimes;
}

/**
 * @param keyEncryptionSecret the secret itself, or a function giving it: then it is asked for only by
 *   operations that seal or unseal (signing keys, outbound OAuth secrets), so reading needs none
 * @param defaults the server-wide token lifetimes (ACCESS_TOKEN_TTL, ID_TOKEN_TTL); the documented defaults when omitted
 */
export function createServices(storage: Storage, keyEncryptionSecret: string | (() => string), defaults: LifetimeDefaults = defaultLifetimes()): Services {
  const lifetimes = new TokenLifetimes(storage, defaults);
  const secret = typeof keyEncryptionSecret === "function" ? keyEncryptionSecret : () => keyEncryptionSecret;
  return {
    lifetimes,
    clients: new ClientService(storage, lifetimes),
    scopes: new ScopeService(storage),
    apis: new ApiService(storage, secret),
    routes: new RouteService(storage),
    users: new UserService(storage, lifetimes),
    keys: new KeyService(storage, secret),
  };
}
