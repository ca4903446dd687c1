// The first start creates an admin user, with ADMIN_PASSWORD or a generated password that is printed once
// (it is stored only as an argon2id hash) and must be changed at the first sign-in: the login page asks
// for a new one before anything else, so the printed one, wherever the output ends up, opens nothing after.
// Safe when instances start at once: the one that loses the race to create the user leaves it as it is.
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import { generateSecret } from "../services/passwords.ts";
import type { Storage } from "../storage/index.ts";
import { isUniqueViolation } from "../storage/database.ts";
import { ConflictError } from "../services/errors.ts";

export async function bootstrapAdmin(config: Config, storage: Storage, services: Services): Promise<void> {
  if ((await storage.users.count()) > 0) return;
  const generated = !config.ADMIN_PASSWORD;
  const password = config.ADMIN_PASSWORD ?? generateSecret().slice(0, 24);
  try {
    await services.users.create({ username: config.ADMIN_USERNAME, password, roles: ["admin"], claims: { name: "Administrator" }, password_change_required: generated });
  } catch (error) {
    // Another instance starting at the same moment created the first user (its password is the one to use).
    if (error instanceof ConflictError || isUniqueViolation(error)) return;
    throw error;
  }
  if (generated) {
    const where = config.ADMIN_ENABLED ? `the console, ${config.ISSUER}/admin` : "the login page";
    process.stdout.write(
      `\n  First start: created admin user "${config.ADMIN_USERNAME}" with the password\n\n      ${password}\n\n` +
        `  It is shown only now and must be changed at the first sign-in (${where}), which asks for a new one.\n` +
        `  To set one instead: npx gatehouse user set-password ${config.ADMIN_USERNAME} --password-stdin\n\n`,
    );
  }
}
