import crypto from "node:crypto";
import { z } from "zod";
import type { Storage, UserRecord } from "../storage/index.ts";
import { NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { throttleKeys } from "../shared/throttle-keys.ts";
import { endIssued, type EndReason, type EndedIssuance } from "./issued-tokens.ts";
import { hashSecret, verifySecret } from "./passwords.ts";
import { sameJson } from "./same-json.ts";
import type { TokenLifetimes } from "./token-lifetimes.ts";

export const passwordSchema = z.string().min(12, "must be at least 12 characters").max(1024);

export const userSchema = z
  .object({
    username: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/, "1-128 characters of A-Z a-z 0-9 . _ @ + -"),
    email: z.email().nullable().default(null),
    password: passwordSchema.optional(),
    claims: z.record(z.string(), z.unknown()).default({}),
    roles: z.array(z.string().min(1)).default([]),
    enabled: z.boolean().default(true),
  })
  .strict();

export type UserView = Omit<UserRecord, "passwordHash">;

export function viewUser(user: UserRecord): UserView {
  const { passwordHash, ...rest } = user;
  return rest;
}

export class UserService {
  private readonly storage: Storage;
  private readonly lifetimes: TokenLifetimes;

  constructor(storage: Storage, lifetimes: TokenLifetimes) {
    this.storage = storage;
    this.lifetimes = lifetimes;
  }

  async list(): Promise<UserView[]> {
    return (await this.storage.users.list()).map(viewUser);
  }

  async get(username: string): Promise<UserView> {
    return viewUser(await this.require(username));
  }

  async create(input: z.input<typeof userSchema>): Promise<UserView> {
    const spec = parseInput(userSchema, input);
    if (!spec.password) throw new ValidationError("password: required");
    if (await this.storage.users.findByUsername(spec.username)) throw new ValidationError(`username: ${spec.username} already exists`);
    const user = await this.storage.users.create({
      id: crypto.randomUUID(),
      username: spec.username,
      email: spec.email,
      passwordHash: await hashSecret(spec.password),
      claims: spec.claims,
      roles: spec.roles,
      enabled: spec.enabled,
    });
    return viewUser(user);
  }

  /** Creates or updates (for `apply`); the password is only changed when it no longer matches. */
  async upsert(input: z.input<typeof userSchema>): Promise<{ user: UserView; changed: boolean }> {
    const spec = parseInput(userSchema, input);
    const current = await this.storage.users.findByUsername(spec.username);
    if (!current) return { user: await this.create(spec), changed: true };
    const changes: Partial<UserRecord> = {};
    if (spec.password && !(await verifySecret(current.passwordHash, spec.password))) changes.passwordHash = await hashSecret(spec.password);
    for (const key of ["email", "claims", "roles", "enabled"] as const) {
      if (!sameJson(spec[key], current[key])) (changes as Record<string, unknown>)[key] = spec[key];
    }
    if (Object.keys(changes).length === 0) return { user: viewUser(current), changed: false };
    const user = await this.storage.users.update(current.id, changes);
    if (changes.enabled === false) await this.endSessions(user, "user_disabled");
    else if (changes.passwordHash) await this.endSessions(user, "user_password_changed");
    return { user: viewUser(user), changed: true };
  }

  /** A new password ends every session and token of the user (someone else may have known the old one) and lifts throttling. */
  async setPassword(username: string, password: string): Promise<void> {
    const user = await this.require(username);
    const value = parseInput(passwordSchema, password, "password");
    await this.storage.users.update(user.id, { passwordHash: await hashSecret(value) });
    await this.endSessions(user, "user_password_changed");
    await this.unlock(username);
  }

  /** Disabling ends every session and token of the user; enabling does not bring them back. */
  async setEnabled(username: string, enabled: boolean): Promise<UserView> {
    const user = await this.require(username);
    const updated = await this.storage.users.update(user.id, { enabled });
    if (!enabled) await this.endSessions(user, "user_disabled");
    return viewUser(updated);
  }

  /**
   * Signs the user out everywhere and ends what they granted: sessions, grants, codes, refresh and opaque
   * access tokens deleted; JWT access tokens issued until now refused. Consents stay.
   */
  async revokeSessions(username: string): Promise<EndedIssuance> {
    return this.endSessions(await this.require(username), "user_sessions_revoked");
  }

  private endSessions(user: UserRecord, reason: EndReason): Promise<EndedIssuance> {
    return endIssued(this.storage, this.lifetimes, { user: user.id }, reason);
  }

  /** Lifts every password-attempt lock on the account (all source addresses). Returns how many counters were cleared. */
  async unlock(username: string): Promise<number> {
    await this.require(username);
    await this.storage.throttles.clear(throttleKeys.account(username));
    return this.storage.throttles.clearPrefix(throttleKeys.pairsOf(username));
  }

  /** Deletes the user with their consents, sessions and tokens. */
  async delete(username: string): Promise<void> {
    const user = await this.require(username);
    await this.storage.users.delete(username);
    await this.storage.consents.deleteForUser(user.id);
    await this.endSessions(user, "user_deleted");
  }

  private async require(username: string): Promise<UserRecord> {
    const user = await this.storage.users.findByUsername(username);
    if (!user) throw new NotFoundError(`user ${username} not found`);
    return user;
  }
}
