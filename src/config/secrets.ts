// Secrets that must survive restarts and be the same on every instance. In production (NODE_ENV=production,
// or a PostgreSQL database, which is how several instances run) they must come from the environment:
// Gatehouse refuses to start without them, naming the variable. On the embedded default they are
// generated once and kept in DATA_DIR (with a warning, since they then sit beside the data).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, type Config } from "./env.ts";
import { log } from "../shared/logger.ts";

/**
 * The secret kept in DATA_DIR/file, generated there on first use.
 * @throws ConfigError in production (see above): a value generated or kept on one machine would differ
 *   between instances (cookies and encrypted keys written by one could not be read by another)
 */
function persisted(config: Config, file: string, envName: string): string {
  if (config.NODE_ENV === "production" || config.databaseKind === "postgresql") {
    const why = config.NODE_ENV === "production" ? "NODE_ENV is production" : "DATABASE_URL is PostgreSQL";
    throw new ConfigError(`${envName} must be set when ${why}: every instance needs the same value (generate one with: openssl rand -base64 32)`);
  }
  const target = path.join(config.DATA_DIR, file);
  if (fs.existsSync(target)) return fs.readFileSync(target, "utf8").trim();
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
  const value = crypto.randomBytes(32).toString("base64url");
  try {
    fs.writeFileSync(target, value + "\n", { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process (a worker reading it at start) wrote it first: theirs is the one.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return fs.readFileSync(target, "utf8").trim();
    throw error;
  }
  log.warn(`${envName} is not set: generated one and stored it in ${target}; set ${envName} in production`);
  return value;
}

/** KEY_ENCRYPTION_SECRET (it encrypts signing keys and outbound client secrets at rest). @throws ConfigError, see persisted() */
export function keyEncryptionSecret(config: Config): string {
  return config.KEY_ENCRYPTION_SECRET ?? persisted(config, "key-encryption-secret", "KEY_ENCRYPTION_SECRET");
}

/** COOKIE_SECRETS, comma-separated, newest first (oidc-provider signs cookies with the first). @throws ConfigError, see persisted() */
export function cookieSecrets(config: Config): string[] {
  return (config.COOKIE_SECRETS ?? persisted(config, "cookie-secret", "COOKIE_SECRETS")).split(",").map((s) => s.trim());
}

/**
 * DPOP_NONCE_SECRET as the 32 bytes oidc-provider's features.dPoP.nonceSecret takes (RFC 9449 §8: the
 * server's nonces are derived from it, so every instance must share it): the SHA-256 of the configured
 * (or generated) value, so any string of at least 32 characters will do.
 * @throws ConfigError, see persisted()
 */
export function dpopNonceSecret(config: Config): Buffer {
  const value = config.DPOP_NONCE_SECRET ?? persisted(config, "dpop-nonce-secret", "DPOP_NONCE_SECRET");
  return crypto.createHash("sha256").update(value).digest();
}
