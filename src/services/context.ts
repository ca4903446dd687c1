// What every service works with: the storage, the key-encryption secret (asked for only when something
// is sealed or unsealed), the token lifetimes, and who is acting, for the audit log.
import type { Storage } from "../storage/index.ts";
import type { AuditService } from "./audit.ts";
import type { TokenLifetimes } from "./token-lifetimes.ts";

/**
 * Who makes a change: a console user, an admin API client, an operating system user at the CLI, Gatehouse
 * itself, or a user changing their own account (a required new password chosen at sign-in).
 */
export interface Actor {
  kind: "admin" | "api" | "cli" | "system" | "user";
  /** The admin's username, the API client's client_id, the OS user's name, what the system did, or the user's username. */
  name: string;
}

export interface ServiceContext {
  storage: Storage;
  /** KEY_ENCRYPTION_SECRET; throws when it is not configured. */
  secret: () => string;
  lifetimes: TokenLifetimes;
  audit: AuditService;
  /** ISSUER, for what the services sign themselves (trial tokens); absent where nothing is signed (the CLI). */
  issuer?: string;
}
