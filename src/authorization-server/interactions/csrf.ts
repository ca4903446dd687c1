// Cross-site request forgery defence for the interaction forms.
//
// Each form carries a token bound to its interaction: an HMAC of the interaction uid under a key derived
// from the provider's cookie secrets. Every instance sharing those secrets accepts it, it survives
// restarts, and it rotates with them (tokens under any current secret verify). A POST also has to come
// from the issuer's own origin when the browser says where it comes from (Origin, Sec-Fetch-Site).
import crypto from "node:crypto";
import { InteractionError, START_AGAIN } from "./errors.ts";
import type { Step } from "./types.ts";

export const CSRF_FIELD = "csrf";

export class CsrfTokens {
  private readonly keys: Buffer[];

  constructor(secrets: readonly string[]) {
    if (!secrets.length) throw new Error("interaction CSRF tokens need at least one cookie secret");
    this.keys = secrets.map((secret) => crypto.createHmac("sha256", secret).update("gatehouse interaction csrf").digest());
  }

  private sign(key: Buffer, uid: string): Buffer {
    return crypto.createHmac("sha256", key).update(uid).digest();
  }

  issue(uid: string): string {
    return this.sign(this.keys[0]!, uid).toString("base64url");
  }

  verify(uid: string, token: string | undefined): boolean {
    if (!token) return false;
    const given = Buffer.from(token, "base64url");
    // Every key is tried, matched or not, so timing does not tell which secret signed the token.
    let valid = false;
    for (const key of this.keys) {
      const expected = this.sign(key, uid);
      if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) valid = true;
    }
    return valid;
  }
}

const forged = () => new InteractionError(403, "invalid_request", `This form has expired or was not sent from this site. ${START_AGAIN}`);

/**
 * Refuses POSTs the browser says come from elsewhere: an Origin other than the issuer's, or a
 * Sec-Fetch-Site other than same-origin. Origin "null" counts as absent: under our Referrer-Policy
 * (no-referrer) browsers send exactly that for their own form posts. The CSRF token still decides.
 */
export function checkOrigin(issuer: string): Step {
  const expected = new URL(issuer).origin;
  return async function checkOrigin(ctx, next) {
    const origin = ctx.get("Origin");
    const site = ctx.get("Sec-Fetch-Site");
    if ((origin && origin !== "null" && origin !== expected) || (site && site !== "same-origin")) throw forged();
    await next();
  };
}

/** Refuses POSTs without this interaction's token. Runs after loadInteraction and readForm. */
export function checkCsrf(tokens: CsrfTokens): Step {
  return async function checkCsrf(ctx, next) {
    if (!tokens.verify(ctx.state.interaction.uid, ctx.state.form[CSRF_FIELD])) throw forged();
    await next();
  };
}
