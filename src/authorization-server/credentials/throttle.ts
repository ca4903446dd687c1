// Password throttling for every place that checks a user's password (the login page, the password grant).
// Three counters per attempt, after Keycloak's brute force detection:
//  - account + source address: LOGIN_MAX_FAILURES free attempts, then locks that double from
//    LOGIN_WAIT_INCREMENT to LOGIN_MAX_WAIT, and an immediate lock for machine-speed failures. This is the
//    counter a stranger fills: the owner, signing in from elsewhere, is not slowed by it.
//  - account, from every address: a much higher ceiling (LOGIN_ACCOUNT_MAX_FAILURES) against guessing
//    spread over many addresses.
//  - source address, across every account: LOGIN_ADDRESS_MAX_FAILURES against credential stuffing.
// Each attempt is counted before the password is checked, in one atomic statement per counter, so
// concurrent attempts (on any number of instances sharing the database) cannot check more passwords
// than the limits allow; an attempt one counter refuses is counted by none of them. Addresses are
// counted per network (shared/throttle-keys.ts): IPv4-mapped IPv6 as IPv4, IPv6 per /64.
import type { Config } from "../../config/env.ts";
import type { Storage } from "../../storage/index.ts";
import type { ThrottlePolicy } from "../../storage/repositories/throttles.ts";
import { throttleKeys } from "../../shared/throttle-keys.ts";

/** Who is trying a password: the username as typed and the source address. */
export interface PasswordAttempt {
  username: string;
  address: string;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; counter: "pair" | "account" | "address" };

export type ThrottleSettings = Pick<
  Config,
  | "LOGIN_MAX_FAILURES"
  | "LOGIN_WAIT_INCREMENT"
  | "LOGIN_MAX_WAIT"
  | "LOGIN_QUICK_FAILURE_MS"
  | "LOGIN_ACCOUNT_MAX_FAILURES"
  | "LOGIN_ADDRESS_MAX_FAILURES"
  | "LOGIN_FAILURE_RESET"
>;

export class PasswordThrottle {
  private readonly storage: Storage;
  private readonly pair: ThrottlePolicy;
  private readonly account: ThrottlePolicy;
  private readonly address: ThrottlePolicy;

  constructor(storage: Storage, settings: ThrottleSettings) {
    this.storage = storage;
    this.pair = {
      maxFailures: settings.LOGIN_MAX_FAILURES,
      firstLockSeconds: settings.LOGIN_WAIT_INCREMENT,
      maxLockSeconds: Math.max(settings.LOGIN_WAIT_INCREMENT, settings.LOGIN_MAX_WAIT),
      resetSeconds: settings.LOGIN_FAILURE_RESET,
      quickFailureMs: settings.LOGIN_QUICK_FAILURE_MS,
    };
    const ceiling = (maxFailures: number): ThrottlePolicy => ({
      maxFailures,
      firstLockSeconds: settings.LOGIN_MAX_WAIT,
      maxLockSeconds: settings.LOGIN_MAX_WAIT,
      resetSeconds: settings.LOGIN_FAILURE_RESET,
      quickFailureMs: 0,
    });
    this.account = ceiling(settings.LOGIN_ACCOUNT_MAX_FAILURES);
    this.address = ceiling(settings.LOGIN_ADDRESS_MAX_FAILURES);
  }

  /**
   * Counts the attempt and says whether its password may be checked. An attempt refused by one counter
   * is counted by none: a stranger locked out of one account cannot push that account towards its
   * ceiling by insisting, and an owner whose account a crowd has locked does not fill their own
   * account+address counter (nor their address's) while they wait.
   *
   * First every lock is read, and a locked counter refuses at once (the narrowest first) without
   * counting anything. Then each counter counts the attempt in one atomic statement, so concurrent
   * attempts on any number of instances cannot check more passwords than any limit allows; when one of
   * them locked in between (a concurrent attempt filled it), the counters already counted give the
   * attempt back.
   */
  async reserve(attempt: PasswordAttempt, now = Date.now()): Promise<ThrottleDecision> {
    const counters = [
      ["pair", throttleKeys.pair(attempt.username, attempt.address), this.pair],
      ["account", throttleKeys.account(attempt.username), this.account],
      ["address", throttleKeys.address(attempt.address), this.address],
    ] as const;
    const refuse = (counter: (typeof counters)[number][0], lockedUntil: number): ThrottleDecision => ({
      allowed: false,
      counter,
      retryAfterSeconds: Math.max(1, Math.ceil((lockedUntil - now) / 1000)),
    });
    const locks = await Promise.all(counters.map(([, key]) => this.storage.throttles.lockedUntil(key, now)));
    const locked = locks.findIndex((until) => until > now);
    if (locked >= 0) return refuse(counters[locked]![0], locks[locked]!);
    const counted: (typeof counters)[number][] = [];
    for (const entry of counters) {
      const [counter, key, policy] = entry;
      const reservation = await this.storage.throttles.reserve(key, policy, now);
      if (!reservation.allowed) {
        for (const [, countedKey, countedPolicy] of counted) await this.storage.throttles.release(countedKey, countedPolicy);
        return refuse(counter, reservation.lockedUntil.getTime());
      }
      counted.push(entry);
    }
    return { allowed: true };
  }

  /** The password was wrong: the attempt stays counted; machine-speed failures lock the pair at once. */
  async failed(attempt: PasswordAttempt, now = Date.now()): Promise<void> {
    await this.storage.throttles.recordFailure(throttleKeys.pair(attempt.username, attempt.address), this.pair, now);
  }

  /** The password was right: the account's counters start over; the address gets its attempt back. */
  async succeeded(attempt: PasswordAttempt): Promise<void> {
    await this.storage.throttles.clear(throttleKeys.pair(attempt.username, attempt.address));
    await this.storage.throttles.clear(throttleKeys.account(attempt.username));
    await this.storage.throttles.release(throttleKeys.address(attempt.address), this.address);
  }
}
