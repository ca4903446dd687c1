// What the console and the admin API need to exist from the first start: the console's own public
// client (it signs administrators in with Gatehouse's authorization code flow and PKCE, like any app)
// and the admin API as a resource server with its two scopes, so that
// `gatehouse client create --grant client_credentials --scope "admin:read admin:write"` makes an
// automation client. Applied at every start (idempotent, and safe when instances start at once), so a changed
// ISSUER is followed.
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import { ValidationError } from "../services/errors.ts";
import { log } from "../shared/logger.ts";
import { isUniqueViolation } from "../storage/database.ts";

import { ADMIN_API, ADMIN_SCOPES, CONSOLE_CLIENT_ID } from "../services/built-in.ts";

export { ADMIN_API, ADMIN_SCOPES, CONSOLE_CLIENT_ID };

/** Where the console's sign-in returns and its sign-out ends, under ISSUER. */
export const consoleUris = (issuer: string) => ({ callback: `${issuer}/admin/callback`, signedOut: `${issuer}/admin/signed-out` });

/**
 * Runs an idempotent apply; when another instance starting at the same moment created the same record
 * between its check and its insert (a unique violation), runs it once more: it then finds the record.
 */
export async function applyRacing<T>(apply: () => Promise<T>): Promise<T> {
  try {
    return await apply();
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return apply();
  }
}

export async function ensureAdminBuiltIns(config: Config, services: Services): Promise<void> {
  await applyRacing(() => services.scopes.apply({ name: ADMIN_SCOPES.read, description: "See Gatehouse's configuration" }));
  await applyRacing(() => services.scopes.apply({ name: ADMIN_SCOPES.write, description: "Change Gatehouse's configuration" }));
  await applyRacing(() => services.apis.apply({ identifier: ADMIN_API, name: "Gatehouse admin API", scopes: [ADMIN_SCOPES.read, ADMIN_SCOPES.write] }));
  const uris = consoleUris(config.ISSUER);
  try {
    await applyRacing(() => services.clients.apply({
      client_id: CONSOLE_CLIENT_ID,
      client_name: "Gatehouse console",
      public: true,
      grant_types: ["authorization_code"],
      redirect_uris: [uris.callback],
      post_logout_redirect_uris: [uris.signedOut],
      scopes: [],
      enabled: config.ADMIN_ENABLED,
    }));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    log.warn("the console cannot sign anyone in with this ISSUER", { issuer: config.ISSUER, reason: error.message });
  }
}
