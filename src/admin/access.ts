// Who is using the console or the admin API, and what they may do. Users with role "admin" may change
// everything; role "viewer" may see everything and change nothing; anyone else is refused. The admin
// API also takes a Gatehouse access token for the API urn:gatehouse:admin: scope admin:read to see,
// admin:write to change. Every change is made through services bound to the acting admin user or API
// client, so the audit log says who did it.
import type { Context, Middleware } from "koa";
import type { Config } from "../config/env.ts";
import { createServices, type Services } from "../services/index.ts";
import type { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import type { Storage, UserRecord } from "../storage/index.ts";
import { ADMIN_API, ADMIN_SCOPES } from "./built-in.ts";
import type { ConsoleSessions } from "./sessions.ts";

export type ConsoleRole = "admin" | "viewer";

/** The console role a user's roles give: admin wins over viewer; none means no access. */
export function consoleRole(user: UserRecord): ConsoleRole | undefined {
  if (!user.enabled) return undefined;
  if (user.roles.includes("admin")) return "admin";
  if (user.roles.includes("viewer")) return "viewer";
  return undefined;
}

/** Who is acting, and whether they may change things. */
export type AdminPrincipal =
  | { kind: "session"; user: UserRecord; role: ConsoleRole; sessionId: string; mayWrite: boolean }
  | { kind: "token"; clientId: string; scopes: Set<string>; mayRead: boolean; mayWrite: boolean };

/** What the console and API handlers find on ctx.state. */
export interface AdminState {
  principal: AdminPrincipal;
  /** Services recording changes under the principal. */
  services: Services;
}

export interface AccessDeps {
  config: Config;
  storage: Storage;
  sessions: ConsoleSessions;
  ownTokens: OwnAccessTokens;
  keyEncryptionSecret: () => string;
}

/** Services whose changes the audit log records for this principal. */
export function servicesFor(deps: AccessDeps, principal: AdminPrincipal): Services {
  const actor = principal.kind === "session" ? { kind: "admin" as const, name: principal.user.username } : { kind: "api" as const, name: principal.clientId };
  return createServices(deps.storage, { keyEncryptionSecret: deps.keyEncryptionSecret, defaults: deps.config, actor, issuer: deps.config.ISSUER });
}

/** The console user of the request's session, if any, with a role that gives access. */
export async function sessionPrincipal(deps: AccessDeps, ctx: Context): Promise<AdminPrincipal | undefined> {
  const session = await deps.sessions.current(ctx);
  if (!session) return undefined;
  const user = await deps.storage.users.findById(session.userId);
  const role = user && consoleRole(user);
  if (!user || !role) {
    await deps.sessions.end(ctx);
    return undefined;
  }
  return { kind: "session", user, role, sessionId: session.id, mayWrite: role === "admin" };
}

/**
 * The admin API client of a Bearer access token for urn:gatehouse:admin, if the request carries one;
 * null when it carries one that is not valid (expired, revoked, another audience, no admin scope).
 */
export async function tokenPrincipal(deps: AccessDeps, ctx: Context): Promise<AdminPrincipal | null | undefined> {
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get("authorization"));
  if (!match) return undefined;
  const claims = await deps.ownTokens.verify(match[1]!, ADMIN_API);
  if (!claims) return null;
  const scopes = new Set(typeof claims.scope === "string" ? claims.scope.split(" ") : []);
  const mayWrite = scopes.has(ADMIN_SCOPES.write);
  return { kind: "token", clientId: String(claims.client_id), scopes, mayRead: mayWrite || scopes.has(ADMIN_SCOPES.read), mayWrite };
}

/** Puts the principal and its services on ctx.state (for handlers that have already decided who it is). */
export function withPrincipal(deps: AccessDeps, ctx: Context, principal: AdminPrincipal): void {
  const state = ctx.state as AdminState;
  state.principal = principal;
  state.services = servicesFor(deps, principal);
}

export type AdminMiddleware = Middleware<AdminState>;
