// Cross-site request forgery defence for Gatehouse's own forms (sign-in, consent, the console).
//
// Each form carries a token bound to what it acts on (an interaction's uid, a console session's id): an
// HMAC of that subject under a key derived from the cookie secrets. Every instance sharing those
// secrets accepts it, it survives restarts, and it rotates with them (tokens under any current secret
// verify). A POST also has to come from the issuer's own origin when the browser says where it comes
// from (Origin, Sec-Fetch-Site).
import crypto from "node:crypto";
import type { Context, Middleware } from "koa";
import { PageError } from "./errors.ts";

export const CSRF_FIELD = "csrf";

export class CsrfTokens {
  private readonly keys: Buffer[];

  /**
   * @param secrets the cookie secrets, newest first
   * @param purpose keeps tokens of one kind of form from being accepted by another
   */
  constructor(secrets: readonly string[], purpose: string) {
    if (!secrets.length) throw new Error("CSRF tokens need at least one cookie secret");
    this.keys = secrets.map((secret) => crypto.createHmac("sha256", secret).update(`gatehouse ${purpose} csrf`).digest());
  }

  private sign(key: Buffer, subject: string): Buffer {
    return crypto.createHmac("sha256", key).update(subject).digest();
  }

  issue(subject: string): string {
    return this.sign(this.keys[0]!, subject).toString("base64url");
  }

  verify(subject: string, token: string | undefined): boolean {
    if (!token) return false;
    const given = Buffer.from(token, "base64url");
    // Every key is tried, matched or not, so timing does not tell which secret signed the token.
    let valid = false;
    for (const key of this.keys) {
      const expected = this.sign(key, subject);
      if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) valid = true;
    }
    return valid;
  }
}

/**
 * Refuses requests the browser says come from elsewhere: an Origin other than the issuer's, or a
 * Sec-Fetch-Site other than same-origin. Origin "null" counts as absent: under our Referrer-Policy
 * (no-referrer) browsers send exactly that for their own form posts. The CSRF token still decides.
 * @param forged the refusal to throw, worded for the page
 */
export function checkOrigin(issuer: string, forged: () => PageError): Middleware {
  const expected = new URL(issuer).origin;
  return async function checkOrigin(ctx, next) {
    const origin = ctx.get("Origin");
    const site = ctx.get("Sec-Fetch-Site");
    if ((origin && origin !== "null" && origin !== expected) || (site && site !== "same-origin")) throw forged();
    await next();
  };
}

/**
 * Refuses a request without the token of its subject, taken from the form's csrf field (or the
 * X-CSRF-Token header, for the console's scripts). Runs after readForm.
 */
export function checkCsrf(tokens: CsrfTokens, subject: (ctx: Context) => string, forged: () => PageError): Middleware<{ form?: Readonly<Record<string, string>> }> {
  return async function checkCsrf(ctx, next) {
    const token = ctx.state.form?.[CSRF_FIELD] ?? (ctx.get("X-CSRF-Token") || undefined);
    if (!tokens.verify(subject(ctx as unknown as Context), token)) throw forged();
    await next();
  };
}
