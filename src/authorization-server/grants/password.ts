// Resource owner password credentials (RFC 6749 §4.3), for clients registered with the `password`
// grant only. The password is checked exactly as the login page checks it (credentials/password-check.ts):
// the same throttling per account and source address, so a client cannot use this grant to get around
// the login page's lockout, and the same answer for an unknown user, a wrong password and a disabled
// account. A user whose password must be changed (generated, or set as temporary) is refused once the
// password is verified: only the login page lets them choose a new one. RFC 9700 §2.4 says this grant
// must not be used; clients listing it carry a warning.
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { log, securityEvent } from "../../shared/logger.ts";
import type { PasswordCredentials } from "../credentials/password-check.ts";
import { invalidGrant } from "./invalid-grant.ts";
import { issueTokens, type IssueDeps } from "./issue.ts";
import { dpopBinding } from "./dpop-binding.ts";

export const PASSWORD = "password";
export const PASSWORD_PARAMETERS = ["username", "password", "scope", "resource"];

/** The answer for every failed check: never says whether the user exists (RFC 6749 §5.2 invalid_grant). */
const INVALID = "the username or password is wrong";
/** The answer for a right password that must be changed (generated, or set as temporary): the login page asks for a new one. */
export const PASSWORD_CHANGE_REQUIRED = "the password must be changed: sign in on the login page first";

/**
 * The grant's handler for provider.registerGrantType.
 * @throws errors.InvalidRequest without username or password; errors.InvalidGrant for wrong credentials
 *   or while throttled (with Retry-After in seconds); whatever issueTokens throws
 */
export function passwordGrant(deps: IssueDeps & { credentials: PasswordCredentials }) {
  return async function passwordGrantHandler(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const { username, password } = params;
    if (typeof username !== "string" || username === "") throw new errors.InvalidRequest("missing required parameter 'username'");
    if (typeof password !== "string" || password === "") throw new errors.InvalidRequest("missing required parameter 'password'");
    // Before the password is checked: a request that cannot succeed costs no argon2 and no throttle count.
    const jkt = await dpopBinding(ctx, deps.dpop);
    const check = await deps.credentials.check({ username, address: ctx.ip }, password);
    if (check.outcome === "throttled") {
      securityEvent("password_grant_throttled", { client_id: ctx.oidc.client?.clientId, counter: check.counter, address: ctx.ip, retry_after: check.retryAfterSeconds });
      ctx.set("Retry-After", String(check.retryAfterSeconds));
      throw invalidGrant(`too many failed attempts: try again in ${check.retryAfterSeconds} seconds`);
    }
    if (check.outcome === "invalid") throw invalidGrant(INVALID);
    // Only now, with the password verified, may the answer say more: the user has to choose a new one first.
    if (check.user.passwordChangeRequired) {
      log.info("password grant refused", { reason: "password_change_required", userId: check.user.id, client_id: ctx.oidc.client?.clientId });
      throw invalidGrant(PASSWORD_CHANGE_REQUIRED);
    }
    ctx.body = await issueTokens(ctx, deps, { accountId: check.user.id, gty: PASSWORD, jkt });
  };
}
