// Console sessions, kept on the server (so every instance sharing the database knows them, and signing
// out or disabling a user ends them at once): the browser holds a random value in an httpOnly cookie,
// SameSite=Lax, Secure when the issuer is https; the database holds its SHA-256. A session ends after
// ADMIN_SESSION_IDLE_TIMEOUT without a request and after ADMIN_SESSION_MAX_AGE in any case.
import crypto from "node:crypto";
import type { Context } from "koa";
import type { Config } from "../config/env.ts";
import type { AdminSessionRecord, Storage, UserRecord } from "../storage/index.ts";

export const SESSION_COOKIE = "gatehouse_console";
/** Activity is written at most this often (milliseconds): a busy console does not write on every request. */
const TOUCH_EVERY_MS = 60_000;

const digest = (value: string) => crypto.hash("sha256", value, "base64url");

export class ConsoleSessions {
  private readonly storage: Storage;
  private readonly config: Config;

  constructor(storage: Storage, config: Config) {
    this.storage = storage;
    this.config = config;
  }

  private cookieOptions() {
    return { httpOnly: true, sameSite: "lax" as const, secure: this.config.ISSUER.startsWith("https:"), path: "/admin", signed: false, overwrite: true };
  }

  /** Starts a session for the user and sets its cookie. */
  async start(ctx: Context, user: UserRecord): Promise<void> {
    const value = crypto.randomBytes(32).toString("base64url");
    await this.storage.adminSessions.create({
      id: digest(value),
      userId: user.id,
      username: user.username,
      expiresAt: new Date(Date.now() + this.config.ADMIN_SESSION_MAX_AGE * 1000),
    });
    ctx.cookies.set(SESSION_COOKIE, value, { ...this.cookieOptions(), maxAge: this.config.ADMIN_SESSION_MAX_AGE * 1000 });
  }

  /** The live session the request's cookie names, or undefined (no cookie, unknown, idle too long, expired). */
  async current(ctx: Context): Promise<AdminSessionRecord | undefined> {
    const value = ctx.cookies.get(SESSION_COOKIE);
    if (!value) return undefined;
    const session = await this.storage.adminSessions.find(digest(value));
    const now = Date.now();
    if (!session) return undefined;
    if (session.expiresAt.getTime() <= now || session.lastSeenAt.getTime() + this.config.ADMIN_SESSION_IDLE_TIMEOUT * 1000 <= now) {
      await this.storage.adminSessions.delete(session.id);
      return undefined;
    }
    if (now - session.lastSeenAt.getTime() > TOUCH_EVERY_MS) await this.storage.adminSessions.touch(session.id);
    return session;
  }

  /** Ends the request's session, if any, and clears its cookie. */
  async end(ctx: Context): Promise<void> {
    const value = ctx.cookies.get(SESSION_COOKIE);
    if (value) await this.storage.adminSessions.delete(digest(value));
    ctx.cookies.set(SESSION_COOKIE, null, this.cookieOptions());
  }
}
