// Secrets every instance must share (issue 11 §3): required from the environment in production, generated
// once and kept in DATA_DIR on the embedded default.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../../src/config/env.ts";
import { cookieSecrets, dpopNonceSecret, keyEncryptionSecret } from "../../src/config/secrets.ts";
import { NODE } from "../helpers/gatehouse.ts";

const SECRET = "s".repeat(32);

function dataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-secrets-"));
}

describe("shared secrets", () => {
  test("on the embedded default they are generated once, kept in DATA_DIR and read back", () => {
    const config = loadConfig({ DATA_DIR: dataDir() }, { dotenv: false });
    const first = keyEncryptionSecret(config);
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(keyEncryptionSecret(config)).toBe(first);
    expect(cookieSecrets(config)).toEqual(cookieSecrets(config));
    // oidc-provider's DPoP nonce secret: 32 bytes, the same on every read.
    expect(dpopNonceSecret(config)).toHaveLength(32);
    expect(dpopNonceSecret(config).equals(dpopNonceSecret(config))).toBe(true);
    expect(fs.statSync(path.join(config.DATA_DIR, "dpop-nonce-secret")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(config.DATA_DIR, "key-encryption-secret")).mode & 0o777).toBe(0o600);
  });

  test.each([
    ["NODE_ENV is production", { NODE_ENV: "production" }],
    ["DATABASE_URL is PostgreSQL", { DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/unused" }],
  ])("when %s each must be set, even with a value kept in DATA_DIR", (why, env) => {
    const dir = dataDir();
    // A value generated earlier on this machine is exactly what another instance would not have.
    keyEncryptionSecret(loadConfig({ DATA_DIR: dir }, { dotenv: false }));
    const config = loadConfig({ DATA_DIR: dir, ...env }, { dotenv: false });
    expect(() => keyEncryptionSecret(config)).toThrow(ConfigError);
    expect(() => keyEncryptionSecret(config)).toThrow(`KEY_ENCRYPTION_SECRET must be set when ${why}`);
    expect(() => cookieSecrets(config)).toThrow(`COOKIE_SECRETS must be set when ${why}`);
    expect(() => dpopNonceSecret(config)).toThrow(`DPOP_NONCE_SECRET must be set when ${why}`);
    const configured = loadConfig(
      { DATA_DIR: dir, ...env, KEY_ENCRYPTION_SECRET: SECRET, COOKIE_SECRETS: `${SECRET},${"t".repeat(32)}`, DPOP_NONCE_SECRET: "n".repeat(32) },
      { dotenv: false },
    );
    expect(keyEncryptionSecret(configured)).toBe(SECRET);
    expect(cookieSecrets(configured)).toEqual([SECRET, "t".repeat(32)]);
    // Two instances with the same setting derive the same nonce key.
    expect(dpopNonceSecret(configured).equals(dpopNonceSecret(loadConfig({ DATA_DIR: dataDir(), ...env, DPOP_NONCE_SECRET: "n".repeat(32) }, { dotenv: false })))).toBe(true);
  });

  test("Gatehouse refuses to start in production without them, naming the variable", () => {
    const dir = dataDir();
    const run = spawnSync(NODE, ["src/main.ts"], {
      env: { PATH: process.env.PATH, NODE_ENV: "production", DATA_DIR: dir, PORT: "0", GATEWAY_PORT: "0", LOG_LEVEL: "warn" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/gatehouse: (KEY_ENCRYPTION_SECRET|COOKIE_SECRETS) must be set when NODE_ENV is production/);
    expect(fs.readdirSync(dir).filter((f) => f.includes("secret"))).toEqual([]);
  });

  test("a DPoP nonce secret shorter than 32 characters is refused, naming the variable", () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), DPOP_NONCE_SECRET: "short" }, { dotenv: false })).toThrow(/DPOP_NONCE_SECRET/);
  });

  test("Gatehouse refuses to start in production without DPOP_NONCE_SECRET when the others are set", () => {
    const dir = dataDir();
    const run = spawnSync(NODE, ["src/main.ts"], {
      env: { PATH: process.env.PATH, NODE_ENV: "production", DATA_DIR: dir, PORT: "0", GATEWAY_PORT: "0", LOG_LEVEL: "warn", KEY_ENCRYPTION_SECRET: SECRET, COOKIE_SECRETS: SECRET, ADMIN_PASSWORD: "admin-password-for-tests" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.stderr).toMatch(/gatehouse: DPOP_NONCE_SECRET must be set when NODE_ENV is production/);
    expect(run.status).toBe(1);
    expect(fs.readdirSync(dir).filter((f) => f.includes("dpop"))).toEqual([]);
  });
});
