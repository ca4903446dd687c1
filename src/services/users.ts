// End users who sign in at the authorization server: their profile claims, roles and password.
import crypto from "node:crypto";
import { z } from "zod";
import type { Storage, UserRecord } from "../storage/index.ts";
import { securityEvent } from "../shared/logger.ts";
import { throttleKeys } from "../shared/throttle-keys.ts";
import { changedFields } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { endIssued, type EndReason, type EndedIssuance } from "./issued-tokens.ts";
import { listQuerySchema, type ListQuery, type Page } from "./paging.ts";
import { generateSecret, hashSecret, passwordFingerprint, verifySecret } from "./passwords.ts";
import { sameJson } from "./same-json.ts";

export const passwordSchema = z.string().min(12, "must be at least 12 characters").max(1024);

export const userInputSchema = z
  .object({
    username: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/, "1-128 characters of A-Z a-z 0-9 . _ @ + -"),
    email: z.email().nullable().default(null),
    /** Never shown back. On create, generated (and returned once) when not given; on update, kept. */
    password: passwordSchema.optional(),
    /** OIDC standard claims (name, given_name, ...). */
    claims: z.record(z.string(), z.unknown()).default({}),
    /** "admin" may change everything in the console and admin API, "viewer" may see everything. */
    roles: z.array(z.string().min(1).max(64)).default([]),
    enabled: z.boolean().default(true),
    /**
     * The user must choose a new password at their next sign-in (Keycloak's "Update Password"). Always
     * set for a generated password; otherwise as given. Left out, a new password clears it and anything
     * else keeps it.
     */
    password_change_required: z.boolean().optional(),
  })
  .strict();

export type UserInput = z.input<typeof userInputSchema>;
type ParsedUser = z.infer<typeof userInputSchema>;

/** A user as every front end shows it: never the password or its hash. */
export interface UserResource {
  id: string;
  username: string;
  email: string | null;
  claims: Record<string, unknown>;
  roles: string[];
  enabled: boolean;
  /** The next sign-in must choose a new password first (the password was generated or set as temporary). */
  password_change_required: boolean;
  created_at: string;
  updated_at: string;
}

export function userResource(user: UserRecord): UserResource {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    claims: user.claims,
    roles: user.roles,
    enabled: user.enabled,
    password_change_required: user.passwordChangeRequired,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

/** The input that reproduces a user, the password left out (so it is kept). */
export function userInputOf(resource: UserResource): Omit<ParsedUser, "password"> & { password_change_required: boolean } {
  return {
    username: resource.username,
    email: resource.email,
    claims: resource.claims,
    roles: resource.roles,
    enabled: resource.enabled,
    password_change_required: resource.password_change_required,
  };
}

/** The message for a generated password that was asked not to be changed. */
const GENERATED_MUST_CHANGE = "a generated password must be changed at the first sign-in: give a password, or leave this out";

/** What a user allowed one client: the remembered consent and the grants its tokens come from. */
export interface UserGrantResource {
  client_id: string;
  /** null when the client no longer exists. */
  client_name: string | null;
  /** null when the user never consented (a client that needs no consent) or the consent was revoked. */
  consent: { scopes: string[]; claims: string[]; resources: Record<string, string[]>; granted_at: string } | null;
  grants: Array<{ grant_id: string; issued_at: string | null; expires_at: string | null }>;
}

/** A user with the password that was generated for them: returned once. */
export interface UserWithPassword {
  user: UserResource;
  password?: string;
}

export class UserService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  async list(query: ListQuery = {}): Promise<Page<UserResource>> {
    const q = parseInput(listQuerySchema, query);
    const page = await this.storage.users.page(q);
    return { items: page.items.map(userResource), total: page.total, offset: q.offset, limit: q.limit };
  }

  /** Every user (the CLI's list, export). */
  async all(): Promise<UserResource[]> {
    return (await this.storage.users.list()).map(userResource);
  }

  async get(username: string): Promise<UserResource> {
    return userResource(await this.require(username));
  }

  /**
   * Creates a user; without a password one is generated and returned once, and must be changed at the
   * first sign-in (as must a given one with password_change_required).
   * @throws ConflictError when the username is taken
   */
  async create(input: UserInput): Promise<UserWithPassword> {
    const spec = parseInput(userInputSchema, input);
    const generated = spec.password === undefined;
    if (generated && spec.password_change_required === false) throw new ValidationError([{ field: "password_change_required", message: GENERATED_MUST_CHANGE }]);
    if (await this.storage.users.findByUsername(spec.username)) throw new ConflictError(`user ${spec.username} already exists`);
    const password = spec.password ?? generateSecret();
    const record = await this.storage.users.create({
      id: crypto.randomUUID(),
      username: spec.username,
      email: spec.email,
      passwordHash: await hashSecret(password),
      claims: spec.claims,
      roles: spec.roles,
      enabled: spec.enabled,
      passwordChangeRequired: generated || spec.password_change_required === true,
    });
    const user = userResource(record);
    await this.context.audit.record("create", "user", user.username, { ...userInputOf(user) });
    return { user, ...(spec.password ? {} : { password }) };
  }

  /**
   * Changes the fields given, keeping the others. A disable, a new password or password_change_required
   * turned on ends the user's sessions and tokens.
   */
  async update(username: string, changes: Partial<UserInput>, { ifMatch }: { ifMatch?: string } = {}): Promise<UserResource> {
    const current = await this.require(username);
    checkIfMatch(userResource(current), ifMatch);
    if (changes.username !== undefined && changes.username !== username) throw new ValidationError([{ field: "username", message: "cannot be changed" }]);
    // The flag is not carried over from the current user: left out of the changes, save() decides it.
    const { password_change_required: _current, ...kept } = userInputOf(userResource(current));
    const spec = parseInput(userInputSchema, { ...kept, ...changes, username });
    return (await this.save(current, spec)).user;
  }

  /** Makes the user exactly what the input says, creating it when it does not exist (a declarative file); the password only changes when it no longer matches. */
  async apply(input: UserInput): Promise<UserWithPassword & { outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(userInputSchema, input);
    const current = await this.storage.users.findByUsername(spec.username);
    if (!current) return { ...(await this.create(spec)), outcome: "created" };
    return this.save(current, spec);
  }

  /**
   * A new password ends every session and token of the user (someone else may have known the old one) and
   * lifts throttling. With temporary the user must choose a new one at their next sign-in; without, the
   * requirement is lifted (this password is meant to stay).
   */
  async setPassword(username: string, password: string, { temporary = false }: { temporary?: boolean } = {}): Promise<void> {
    const user = await this.require(username);
    const value = parseInput(passwordSchema, password, "password");
    await this.storage.users.update(user.id, { passwordHash: await hashSecret(value), passwordChangeRequired: temporary });
    await this.endSessions(user, "user_password_changed");
    await this.unlockCounters(username);
    await this.context.audit.record("set_password", "user", username, { password_change_required: temporary });
  }

  /**
   * Sets a generated password (ending sessions and tokens as setPassword does) that must be changed at the
   * next sign-in, and returns it: shown once.
   */
  async resetPassword(username: string): Promise<string> {
    const password = generateSecret();
    await this.setPassword(username, password, { temporary: true });
    return password;
  }

  /**
   * The user chose a new password on the login page because theirs had to be changed: stores its hash and
   * clears password_change_required in one conditional write, recorded in the audit log under this
   * service's actor (the user themselves).
   *
   * Unlike setPassword this ends no session and writes no "not before" mark, on purpose. A user who must
   * change their password cannot have a session or tokens from it: the login page and the password grant
   * refuse it until it is changed, and whatever set the flag (a new password, or the flag turned on)
   * ended what the user had before. A mark written now would also refuse the very tokens this sign-in is
   * about to issue: a JWT's iat has one-second resolution, so tokens issued in the same second as the
   * mark count as issued before it.
   * @param checked passwordFingerprint of the hash the password check accepted: when the password was
   *   replaced since (an administrator reset it), nothing changes
   * @throws ValidationError (field password) for a password the rules refuse or the current one;
   *   ConflictError when the user is gone, disabled, no longer must change their password, or has another since the check
   */
  async completeRequiredPasswordChange(userId: string, password: string, checked: string): Promise<UserResource> {
    const stale = () => new ConflictError("the password no longer needs to be changed, or was changed since it was checked: sign in again");
    const user = await this.storage.users.findById(userId);
    if (!user?.enabled || !user.passwordChangeRequired || passwordFingerprint(user.passwordHash) !== checked) throw stale();
    const value = parseInput(passwordSchema, password, "password");
    if (await verifySecret(user.passwordHash, value)) throw new ValidationError([{ field: "password", message: "must differ from the current password" }]);
    const record = await this.storage.users.replaceRequiredPassword(user.id, user.passwordHash, await hashSecret(value));
    if (!record) throw stale();
    await this.context.audit.record("change_password", "user", user.username, { password_change_required: false });
    return userResource(record);
  }

  /**
   * Signs the user out everywhere and ends what they granted: sessions, grants, codes, refresh and opaque
   * access tokens deleted; JWT access tokens issued until now refused. Consents stay.
   */
  async revokeSessions(username: string): Promise<EndedIssuance> {
    const ended = await this.endSessions(await this.require(username), "user_sessions_revoked");
    await this.context.audit.record("revoke_sessions", "user", username, { artifacts_revoked: ended.artifacts });
    return ended;
  }

  /** The user's consents and grants, one entry per client. */
  async grants(username: string): Promise<UserGrantResource[]> {
    const user = await this.require(username);
    const [consents, grants] = await Promise.all([this.storage.consents.listForUser(user.id), this.storage.artifacts.grantsOf(user.id)]);
    const clientIds = [...new Set([...consents.map((c) => c.clientId), ...grants.map((g) => g.clientId)])].sort();
    return Promise.all(
      clientIds.map(async (clientId) => {
        const consent = consents.find((c) => c.clientId === clientId);
        return {
          client_id: clientId,
          client_name: (await this.storage.clients.find(clientId))?.name ?? null,
          consent: consent ? { scopes: consent.scopes, claims: consent.claims, resources: consent.resources, granted_at: consent.updatedAt.toISOString() } : null,
          grants: grants
            .filter((g) => g.clientId === clientId)
            .map((g) => ({ grant_id: g.grantId, issued_at: g.issuedAt?.toISOString() ?? null, expires_at: g.expiresAt?.toISOString() ?? null })),
        };
      }),
    );
  }

  /**
   * Takes back what the user allowed a client: the consent is forgotten (the next sign-in asks again),
   * each grant is deleted with its codes, refresh and opaque access tokens, and its JWT access tokens
   * are refused from now on (the grant id goes on the revocation list, as the tokens' gid claim).
   * @throws NotFoundError when the user has neither a consent nor a grant for the client
   */
  async revokeGrant(username: string, clientId: string): Promise<{ grants_revoked: number; artifacts_revoked: number }> {
    const user = await this.require(username);
    const grants = (await this.storage.artifacts.grantsOf(user.id)).filter((g) => g.clientId === clientId);
    const consentRemoved = await this.storage.consents.delete(user.id, clientId);
    if (!grants.length && !consentRemoved) throw new NotFoundError(`user ${username} has no consent or grant for client ${clientId}`);
    const expiresAt = new Date(Date.now() + (await this.context.lifetimes.longestAccessToken()) * 1000);
    let artifacts = 0;
    for (const grant of grants) {
      // The mark first: from here on no JWT of the grant passes, even while its artifacts are deleted.
      await this.storage.revocations.add({ kind: "grant", id: grant.grantId, expiresAt });
      artifacts += await this.storage.artifacts.revokeGrant(grant.grantId);
    }
    securityEvent("user_grant_revoked", { user: user.id, client_id: clientId, grants_revoked: grants.length, artifacts_revoked: artifacts });
    await this.context.audit.record("revoke_grant", "user", username, { client_id: clientId, consent_removed: consentRemoved, grants_revoked: grants.length });
    return { grants_revoked: grants.length, artifacts_revoked: artifacts };
  }

  /** Lifts every password-attempt lock on the account (all source addresses). Returns how many counters were cleared. */
  async unlock(username: string): Promise<number> {
    await this.require(username);
    const cleared = await this.unlockCounters(username);
    await this.context.audit.record("unlock", "user", username, { counters_cleared: cleared });
    return cleared;
  }

  /** When the account's password-attempt lock ends, from any address (null: not locked). */
  async lockedUntil(username: string): Promise<string | null> {
    const locks = [...(await this.storage.throttles.locked(throttleKeys.account(username))), ...(await this.storage.throttles.locked(throttleKeys.pairsOf(username)))];
    const latest = Math.max(0, ...locks.map((l) => l.lockedUntil.getTime()));
    return latest ? new Date(latest).toISOString() : null;
  }

  /** Deletes the user with their consents, sessions and tokens. */
  async delete(username: string): Promise<void> {
    const user = await this.require(username);
    await this.storage.users.delete(username);
    await this.storage.consents.deleteForUser(user.id);
    await this.endSessions(user, "user_deleted");
    await this.context.audit.record("delete", "user", username);
  }

  /**
   * @param spec password_change_required left out means: cleared by a new password, kept otherwise
   */
  private async save(current: UserRecord, spec: ParsedUser): Promise<UserWithPassword & { outcome: "updated" | "unchanged" }> {
    const changes: Partial<UserRecord> = {};
    if (spec.password && !(await verifySecret(current.passwordHash, spec.password))) changes.passwordHash = await hashSecret(spec.password);
    for (const key of ["email", "claims", "roles", "enabled"] as const) {
      if (!sameJson(spec[key], current[key])) (changes as Record<string, unknown>)[key] = spec[key];
    }
    const required = spec.password_change_required ?? (changes.passwordHash ? false : current.passwordChangeRequired);
    if (required !== current.passwordChangeRequired) changes.passwordChangeRequired = required;
    const before = userResource(current);
    if (Object.keys(changes).length === 0) return { user: before, outcome: "unchanged" };
    const record = await this.storage.users.update(current.id, changes);
    if (changes.enabled === false) await this.endSessions(record, "user_disabled");
    else if (changes.passwordHash) await this.endSessions(record, "user_password_changed");
    // Whoever must choose a new password has no session or token from before it (completeRequiredPasswordChange relies on it).
    else if (changes.passwordChangeRequired) await this.endSessions(record, "user_password_change_required");
    const user = userResource(record);
    const audit: Record<string, unknown> = changedFields(userInputOf(before), userInputOf(user));
    if (changes.passwordHash) audit.password = "changed";
    await this.context.audit.record("update", "user", user.username, audit);
    return { user, outcome: "updated" };
  }

  /** Ends the user's sessions at the authorization server and in the console, and their tokens. */
  private async endSessions(user: UserRecord, reason: EndReason): Promise<EndedIssuance> {
    await this.storage.adminSessions.deleteForUser(user.id);
    return endIssued(this.storage, this.context.lifetimes, { user: user.id }, reason);
  }

  private async unlockCounters(username: string): Promise<number> {
    await this.storage.throttles.clear(throttleKeys.account(username));
    return this.storage.throttles.clearPrefix(throttleKeys.pairsOf(username));
  }

  private async require(username: string): Promise<UserRecord> {
    const user = await this.storage.users.findByUsername(username);
    if (!user) throw new NotFoundError(`user ${username} not found`);
    return user;
  }
}
