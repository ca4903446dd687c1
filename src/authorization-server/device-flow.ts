// What Gatehouse adds around oidc-provider's device authorization grant (RFC 8628), as one middleware
// on the provider (provider.use):
//  - POST /device (the code entry page): a form from another site is refused (as on the login page), and
//    guessing user codes is throttled per source network. Every post is counted before oidc-provider
//    looks its code up, in one atomic statement (the login page's counters, storage.throttles); a code
//    that matched gives the attempt back, a wrong one keeps it counted. After LOGIN_MAX_FAILURES wrong
//    codes the address is locked for LOGIN_WAIT_INCREMENT seconds, doubling up to LOGIN_MAX_WAIT, and a
//    locked address gets the page saying so (429) without its code being looked at.
//  - POST /device/auth: the answer carries `interval`, the pace the device must keep (RFC 8628 §3.2).
//  - POST /token with the device_code grant: a device that polls again sooner than `interval` while the
//    user has not answered gets slow_down (RFC 8628 §3.5) instead of authorization_pending. oidc-provider
//    defines the error but never sends it. Each slow_down makes that device code's interval 5 seconds
//    longer, for the poll that got it and every later one (§3.5: "for this and all subsequent requests").
import crypto from "node:crypto";
import type { Context, Middleware } from "koa";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../config/env.ts";
import type { Storage } from "../storage/index.ts";
import type { ThrottlePolicy } from "../storage/repositories/throttles.ts";
import { securityEvent } from "../shared/logger.ts";
import { throttleAddress } from "../shared/throttle-keys.ts";
import { sendPage } from "../web/pages.ts";
import { DEVICE_CODE } from "../services/grant-rules.ts";
import { sendCodePage, type DeviceCodeState } from "./device-pages.ts";
import { tooManyAttempts } from "./interactions/login.ts";

/** Seconds a device waits between two polls of the token endpoint (RFC 8628 §3.2: 5 when unsaid). */
export const DEVICE_POLL_INTERVAL = 5;

/** Seconds each slow_down adds to a device code's interval (RFC 8628 §3.5). */
export const SLOW_DOWN_STEP = 5;

/** A device code's lifetime in seconds (configuration.ts, ttl.DeviceCode): how long its pace is kept. */
const DEVICE_CODE_LIFETIME = 600;

/**
 * The most slow_downs counted per device code: by then its interval (605 s) outlasts the code, so a
 * further slow_down could not change anything the device can still do.
 */
export const MAX_SLOW_DOWNS = Math.ceil(DEVICE_CODE_LIFETIME / SLOW_DOWN_STEP);

const codeHash = (deviceCode: string) => crypto.hash("sha256", deviceCode, "base64url").slice(0, 32);

/**
 * The counters' names: user code guesses per source network; per device code, the last poll at each
 * pace (level 0: the interval the device was told; level n: after n slow_downs) and the n-th slow_down.
 */
export const deviceThrottleKeys = {
  guesses: (address: string) => `device-code:${throttleAddress(address)}`,
  poll: (deviceCode: string, level = 0) => `device-poll:${codeHash(deviceCode)}${level > 0 ? `:${level}` : ""}`,
  slowDown: (deviceCode: string, n: number) => `device-slow-down:${codeHash(deviceCode)}:${n}`,
};

/** The interval a device code must keep after `slowDowns` slow_downs, in seconds. */
export const pollInterval = (slowDowns: number) => DEVICE_POLL_INTERVAL + SLOW_DOWN_STEP * slowDowns;

export type DeviceFlowSettings = Pick<
  Config,
  "ISSUER" | "LOGIN_MAX_FAILURES" | "LOGIN_WAIT_INCREMENT" | "LOGIN_MAX_WAIT" | "LOGIN_QUICK_FAILURE_MS" | "LOGIN_FAILURE_RESET"
>;

/** The user code guessing policy: the login page's account+address counter. */
function guessPolicy(settings: DeviceFlowSettings): ThrottlePolicy {
  return {
    maxFailures: settings.LOGIN_MAX_FAILURES,
    firstLockSeconds: settings.LOGIN_WAIT_INCREMENT,
    maxLockSeconds: Math.max(settings.LOGIN_WAIT_INCREMENT, settings.LOGIN_MAX_WAIT),
    resetSeconds: settings.LOGIN_FAILURE_RESET,
    quickFailureMs: settings.LOGIN_QUICK_FAILURE_MS,
  };
}

/**
 * One poll per interval: every poll let through locks the device code's counter for its pace, for a
 * second less than the interval (a device that waited the interval after its last answer must never be
 * told to slow down for the time that answer took to reach it).
 */
function pollPolicy(interval: number): ThrottlePolicy {
  return { maxFailures: 1, firstLockSeconds: interval - 1, maxLockSeconds: interval - 1, resetSeconds: interval, quickFailureMs: 0 };
}

/**
 * The n-th slow_down of a device code: its counter is taken once (reserve lets exactly one caller
 * through, on any instance sharing the storage) and stays locked for as long as the code can live, so
 * the slow_downs counted never have a gap and are forgotten with the code (purged, or expired in Redis).
 */
const SLOW_DOWN_POLICY: ThrottlePolicy = {
  maxFailures: 1,
  firstLockSeconds: DEVICE_CODE_LIFETIME,
  maxLockSeconds: DEVICE_CODE_LIFETIME,
  resetSeconds: DEVICE_CODE_LIFETIME,
  quickFailureMs: 0,
};

/** Whether the browser says the form comes from another site (see web/csrf.ts checkOrigin). */
function fromElsewhere(ctx: Context, issuer: string): boolean {
  const origin = ctx.get("Origin");
  const site = ctx.get("Sec-Fetch-Site");
  return Boolean((origin && origin !== "null" && origin !== new URL(issuer).origin) || (site && site !== "same-origin"));
}

/**
 * The device flow's additions to oidc-provider (see the top of this file).
 * @param paths oidc-provider's routes for the code entry page and the device authorization endpoint
 */
export function deviceFlowGuards(settings: DeviceFlowSettings, storage: Storage, paths = { verification: "/device", authorization: "/device/auth", token: "/token" }): Middleware {
  const policy = guessPolicy(settings);
  const verificationUrl = `${settings.ISSUER}${paths.verification}`;

  async function codeEntry(ctx: Context, next: () => Promise<unknown>): Promise<void> {
    if (fromElsewhere(ctx, settings.ISSUER)) {
      await sendPage(ctx, "error", { title: "Something went wrong", error: "invalid_request", description: "This form was not sent from this site. Enter the code again." }, 403);
      return;
    }
    const key = deviceThrottleKeys.guesses(ctx.ip);
    const reservation = await storage.throttles.reserve(key, policy);
    if (!reservation.allowed) {
      const retryAfter = Math.max(1, Math.ceil((reservation.lockedUntil.getTime() - Date.now()) / 1000));
      securityEvent("device_code_throttled", { address: ctx.ip, retry_after: retryAfter });
      ctx.set("Retry-After", String(retryAfter));
      await sendCodePage(ctx, verificationUrl, { lead: "Too many codes that did not match were entered from your network.", error: tooManyAttempts(retryAfter), status: 429 });
      return;
    }
    try {
      await next();
    } finally {
      if ((ctx.state as DeviceCodeState).deviceCodeOutcome === "wrong") {
        securityEvent("device_code_wrong", { address: ctx.ip });
        await storage.throttles.recordFailure(key, policy);
      } else {
        await storage.throttles.release(key, policy);
      }
    }
  }

  /** Whether the device code's n-th slow_down was counted. */
  const counted = async (deviceCode: string, n: number) => (await storage.throttles.lockedUntil(deviceThrottleKeys.slowDown(deviceCode, n))) > 0;

  /**
   * How many slow_downs the device code got: counters 1..n are taken, n+1 is not (they are taken in
   * order). One read for a device that never got one; a doubling search, then halving, for one that did.
   */
  async function slowDowns(deviceCode: string): Promise<number> {
    if (!(await counted(deviceCode, 1))) return 0;
    let low = 1;
    let high = 2;
    while (high <= MAX_SLOW_DOWNS && (await counted(deviceCode, high))) [low, high] = [high, high * 2];
    high = Math.min(high, MAX_SLOW_DOWNS + 1);
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await counted(deviceCode, middle)) low = middle;
      else high = middle;
    }
    return low;
  }

  /**
   * Counts a slow_down after the `seen` already counted: takes the next counter free (one taken meanwhile
   * by a poll on another instance counts as that poll's), and starts the slower pace at this poll.
   * @returns the slow_downs counted now
   */
  async function slowDown(deviceCode: string, seen: number): Promise<number> {
    let n = seen;
    while (n < MAX_SLOW_DOWNS) {
      n++;
      if ((await storage.throttles.reserve(deviceThrottleKeys.slowDown(deviceCode, n), SLOW_DOWN_POLICY)).allowed) break;
    }
    await storage.throttles.reserve(deviceThrottleKeys.poll(deviceCode, n), pollPolicy(pollInterval(n)));
    return n;
  }

  async function pollPace(ctx: Context): Promise<void> {
    const body = ctx.body as { error?: unknown } | undefined;
    const deviceCode = (ctx as unknown as KoaContextWithOIDC).oidc?.params?.device_code;
    if (ctx.status !== 400 || body?.error !== "authorization_pending" || typeof deviceCode !== "string") return;
    const seen = await slowDowns(deviceCode);
    const reservation = await storage.throttles.reserve(deviceThrottleKeys.poll(deviceCode, seen), pollPolicy(pollInterval(seen)));
    if (!reservation.allowed) {
      const interval = pollInterval(await slowDown(deviceCode, seen));
      ctx.body = { error: "slow_down", error_description: `poll no more than once every ${interval} seconds from now on (${SLOW_DOWN_STEP} seconds slower after each slow_down)` };
    }
  }

  /**
   * oidc-provider answers a refusal on its device pages with the code entry page, and stores a fresh CSRF
   * token in the session for it; for a browser that came without a session (no cookie, or an expired
   * one) that session was never saved, and saving the token throws (a 500). Such a browser gets the page
   * saying its form expired, without a form: "Enter a code" starts it a session.
   */
  async function withoutSession(ctx: Context, next: () => Promise<unknown>): Promise<void> {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof TypeError && /previously persisted Sessions/.test(error.message))) throw error;
      await sendCodePage(ctx, verificationUrl, { error: "This form has expired. Enter the code again.", status: 400 });
    }
  }

  return async function deviceFlow(ctx, next) {
    const devicePage = ctx.path === paths.verification || ctx.path.startsWith(`${paths.verification}/`);
    if (ctx.method !== "POST") return devicePage ? withoutSession(ctx, next) : next();
    if (ctx.path === paths.verification) return codeEntry(ctx, () => withoutSession(ctx, next));
    await next();
    if (ctx.path === paths.token && (ctx as unknown as KoaContextWithOIDC).oidc?.params?.grant_type === DEVICE_CODE) await pollPace(ctx);
    else if (ctx.path === paths.authorization && ctx.status === 200 && ctx.body && typeof ctx.body === "object" && "device_code" in ctx.body) {
      ctx.body = { ...(ctx.body as object), interval: DEVICE_POLL_INTERVAL };
    }
  };
}
