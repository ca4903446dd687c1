// The services every front end shares: CLI, declarative file, admin API and console. Each entity has the
// same verbs (list, get, create, update, delete, apply for a declarative file, plus its own such as
// rotateSecret), takes and returns its public resource (snake_case, as OAuth names things), records
// every change in the audit log under the actor given here, and refuses with a ServiceError.
import { defaultLifetimes } from "../config/env.ts";
import type { Storage } from "../storage/index.ts";
import { ApiService } from "./apis.ts";
import { AuditService } from "./audit.ts";
import { ClientService } from "./clients.ts";
import type { Actor, ServiceContext } from "./context.ts";
import { DeclarativeService } from "./declarative.ts";
import { IssuerService } from "./issuers.ts";
import { KeyService } from "./keys.ts";
import { RouteService } from "./routes.ts";
import { ScopeService } from "./scopes.ts";
import { TokenLifetimes, type LifetimeDefaults } from "./token-lifetimes.ts";
import { TrialTokenService } from "./trial-tokens.ts";
import { UserService } from "./users.ts";

export interface Services {
  clients: ClientService;
  scopes: ScopeService;
  apis: ApiService;
  routes: RouteService;
  users: UserService;
  keys: KeyService;
  lifetimes: TokenLifetimes;
  audit: AuditService;
  declarative: DeclarativeService;
  trialTokens: TrialTokenService;
  issuers: IssuerService;
}

export interface ServiceOptions {
  /**
   * KEY_ENCRYPTION_SECRET, or a function giving it: then it is asked for only by operations that seal or
   * unseal (signing keys, outbound OAuth secrets), so reading needs none.
   */
  keyEncryptionSecret: string | (() => string);
  /** The server-wide token lifetimes (ACCESS_TOKEN_TTL, ID_TOKEN_TTL); the documented defaults when omitted. */
  defaults?: LifetimeDefaults;
  /** Who the changes are recorded for in the audit log (default: Gatehouse itself). */
  actor?: Actor;
  /** ISSUER: needed only to mint trial tokens. */
  issuer?: string;
}

export function createServices(storage: Storage, options: ServiceOptions): Services {
  const { keyEncryptionSecret } = options;
  const lifetimes = new TokenLifetimes(storage, options.defaults ?? defaultLifetimes());
  const audit = new AuditService(storage, options.actor ?? { kind: "system", name: "gatehouse" });
  const context: ServiceContext = {
    storage,
    secret: typeof keyEncryptionSecret === "function" ? keyEncryptionSecret : () => keyEncryptionSecret,
    lifetimes,
    audit,
    issuer: options.issuer,
  };
  const keys = new KeyService(context);
  const services = {
    lifetimes,
    audit,
    clients: new ClientService(context),
    scopes: new ScopeService(context),
    apis: new ApiService(context),
    routes: new RouteService(context),
    users: new UserService(context),
    keys,
    trialTokens: new TrialTokenService(context, keys),
    issuers: new IssuerService(context),
  };
  return { ...services, declarative: new DeclarativeService(services) };
}

export type { Actor } from "./context.ts";
