// Secrets that must survive restarts. In production they come from the environment; on the embedded
// default they are generated once and kept in DATA_DIR (with a warning, since they then sit beside the data).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "./env.ts";
import { log } from "../shared/logger.ts";

function persisted(config: Config, file: string, envName: string): string {
  const target = path.join(config.DATA_DIR, file);
  if (fs.existsSync(target)) return fs.readFileSync(target, "utf8").trim();
  if (config.databaseKind === "postgresql") {
    throw new Error(`${envName} must be set when DATABASE_URL is PostgreSQL (every instance needs the same value)`);
  }
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
  const value = crypto.randomBytes(32).toString("base64url");
  fs.writeFileSync(target, value + "\n", { mode: 0o600, flag: "wx" });
  log.warn(`${envName} is not set: generated one and stored it in ${target}; set ${envName} in production`);
  return value;
}

export function keyEncryptionSecret(config: Config): string {
  return config.KEY_ENCRYPTION_SECRET ?? persisted(config, "key-encryption-secret", "KEY_ENCRYPTION_SECRET");
}

export function cookieSecrets(config: Config): string[] {
  return (config.COOKIE_SECRETS ?? persisted(config, "cookie-secret", "COOKIE_SECRETS")).split(",").map((s) => s.trim());
}
