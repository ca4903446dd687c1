// Checks a user's password for the login page and the password grant alike: throttled first (see
// throttle.ts), then argon2id, at the same cost whether or not the account exists (an unknown username is
// verified against a dummy hash), and the same answer for an unknown user, a wrong password and a
// disabled account. A username no account can have (too long, or with a NUL or a lone surrogate, which
// no database stores: shared/storable-text.ts) is looked up nowhere and answers like an unknown one.
import type { Storage, UserRecord } from "../../storage/index.ts";
import { dummyPasswordHash, verifySecret } from "../../services/passwords.ts";
import { isStorableText } from "../../shared/storable-text.ts";
import { PasswordThrottle, type PasswordAttempt, type ThrottleSettings } from "./throttle.ts";

/** Usernames are at most 128 characters (services/users.ts); anything longer names no account. */
export const MAX_USERNAME_LENGTH = 128;

/** Whether username could name an account at all: not empty, not too long, storable text. */
export function mayNameAnAccount(username: string): boolean {
  return username.length > 0 && username.length <= MAX_USERNAME_LENGTH && isStorableText(username);
}
/** Longest password looked at; longer ones are refused without hashing (argon2 cost grows with input). */
export const MAX_PASSWORD_LENGTH = 1024;

export type PasswordCheck =
  | { outcome: "valid"; user: UserRecord }
  | { outcome: "invalid" }
  | { outcome: "throttled"; retryAfterSeconds: number; counter: "pair" | "account" | "address" };

export class PasswordCredentials {
  private readonly storage: Storage;
  private readonly throttle: PasswordThrottle;

  constructor(storage: Storage, settings: ThrottleSettings) {
    this.storage = storage;
    this.throttle = new PasswordThrottle(storage, settings);
    // Computed now, so the first attempt with an unknown username costs no more than any other.
    void dummyPasswordHash();
  }

  /** Throttles, then verifies. Never says whether the username exists. */
  async check(attempt: PasswordAttempt, password: string): Promise<PasswordCheck> {
    const decision = await this.throttle.reserve(attempt);
    if (!decision.allowed) return { outcome: "throttled", retryAfterSeconds: decision.retryAfterSeconds, counter: decision.counter };
    const { username } = attempt;
    const user = mayNameAnAccount(username) ? await this.storage.users.findByUsername(username) : null;
    const usable = password.length <= MAX_PASSWORD_LENGTH;
    const valid = (await verifySecret(user?.passwordHash ?? (await dummyPasswordHash()), usable ? password : "")) && usable;
    if (!valid || !user?.enabled) {
      await this.throttle.failed(attempt);
      return { outcome: "invalid" };
    }
    await this.throttle.succeeded(attempt);
    return { outcome: "valid", user };
  }
}
