// Resource owner password credentials (RFC 6749 §4.3), for clients registered with the `password`
// grant only. The password is checked exactly as the login page checks it (credentials/password-check.ts):
// the same throttling per account and source address, so a client cannot use this grant to get around
// the login page's lockout, and the same answer for an unknown user, a wrong password and a disabled
// account. RFC 9700 §2.4 says this grant must not be used; clients listing it carry a warning.
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { securityEvent } from "../../shared/logger.ts";
import type { PasswordCredentials } from "../credentials/password-check.ts";
import { invalidGrant, issueTokens, type IssueDeps } from "./issue.ts";

export const PASSWORD = "password";
export const PASSWORD_PARAMETERS = ["username", "password", "scope", "resource"];

/** The answer for every failed check: never says whether the user exists (RFC 6749 §5.2 invalid_grant). */
const INVALID = "the username or password is wrong";

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
    const check = await deps.credentials.check({ username, address: ctx.ip }, password);
    if (check.outcome === "throttled") {
      securityEvent("password_grant_throttled", { client_id: ctx.oidc.client?.clientId, counter: check.counter, address: ctx.ip, retry_after: check.retryAfterSeconds });
      ctx.set("Retry-After", String(check.retryAfterSeconds));
      throw invalidGrant(`too many failed attempts: try again in ${check.retryAfterSeconds} seconds`);
    }
    if (check.outcome === "invalid") throw invalidGrant(INVALID);
    ctx.body = await issueTokens(ctx, deps, { accountId: check.user.id, gty: PASSWORD });
  };
}
