// The first start creates an admin user, with ADMIN_PASSWORD or a generated one-time password that is
// printed once (it is stored only as an argon2id hash).
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import { generateSecret } from "../services/passwords.ts";
import type { Storage } from "../storage/index.ts";

export async function bootstrapAdmin(config: Config, storage: Storage, services: Services): Promise<void> {
  if ((await storage.users.count()) > 0) return;
  const password = config.ADMIN_PASSWORD ?? generateSecret().slice(0, 24);
  await services.users.create({ username: config.ADMIN_USERNAME, password, roles: ["admin"], claims: { name: "Administrator" } });
  if (!config.ADMIN_PASSWORD) {
    process.stdout.write(
      `\n  First start: created admin user "${config.ADMIN_USERNAME}" with one-time password\n\n      ${password}\n\n` +
        `  It is shown only now. Change it with: npx gatehouse user set-password ${config.ADMIN_USERNAME}\n\n`,
    );
  }
}
