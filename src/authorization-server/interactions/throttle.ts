// Sign-in throttling, per account and per source address, both allowing LOGIN_MAX_FAILURES failures per
// LOGIN_LOCK_SECONDS window. Accounts keep their counters on the user row; addresses and usernames that
// match no account use the throttles table, so an unknown username locks exactly like a real one and
// the lock itself tells nothing about whether the account exists. Unknown usernames are stored hashed:
// people type passwords into the username field.
import crypto from "node:crypto";
import type { Storage, UserRecord } from "../../storage/index.ts";

export interface ThrottleLimits {
  maxFailures: number;
  lockSeconds: number;
}

/** Who is signing in: the address, the username typed and the account it names, if any. */
export interface SignInAttempt {
  ip: string;
  username: string;
  user: UserRecord | null;
}

const addressKey = (ip: string) => `ip:${ip}`;
const unknownUserKey = (username: string) => `user:${crypto.createHash("sha256").update(username).digest("base64url")}`;

export class LoginThrottle {
  private readonly storage: Storage;
  private readonly limits: ThrottleLimits;

  constructor(storage: Storage, limits: ThrottleLimits) {
    this.storage = storage;
    this.limits = limits;
  }

  /** When the later of the address and account locks ends, or null when neither is locked. */
  async lockedUntil(attempt: SignInAttempt, now = new Date()): Promise<Date | null> {
    const { throttles } = this.storage;
    const account = attempt.user
      ? attempt.user.lockedUntil && attempt.user.lockedUntil > now
        ? attempt.user.lockedUntil
        : null
      : await throttles.lockedUntil(unknownUserKey(attempt.username), now);
    const address = await throttles.lockedUntil(addressKey(attempt.ip), now);
    const locks = [account, address].filter((d): d is Date => d !== null);
    return locks.length ? new Date(Math.max(...locks.map((d) => d.getTime()))) : null;
  }

  async recordFailure(attempt: SignInAttempt, now = new Date()): Promise<void> {
    const { maxFailures, lockSeconds } = this.limits;
    await this.storage.throttles.recordFailure(addressKey(attempt.ip), maxFailures, lockSeconds, now);
    if (attempt.user) await this.storage.users.recordFailedLogin(attempt.user.id, maxFailures, lockSeconds, now);
    else await this.storage.throttles.recordFailure(unknownUserKey(attempt.username), maxFailures, lockSeconds, now);
  }

  async recordSuccess(ip: string, user: UserRecord): Promise<void> {
    await this.storage.users.recordSuccessfulLogin(user.id);
    await this.storage.throttles.clear(addressKey(ip));
  }
}
