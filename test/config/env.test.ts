// Configuration: defaults, storage selection by DATABASE_URL, and a clear message for a bad value.
import { spawnSync } from "node:child_process";
import { loadConfig, ConfigError } from "../../src/config/env.ts";
import { NODE } from "../helpers/gatehouse.ts";

describe("configuration", () => {
  test("defaults: SQLite under ./data, port 3000, gateway 8080, issuer from the port", () => {
    const config = loadConfig({}, { dotenv: false });
    expect(config.PORT).toBe(3000);
    expect(config.GATEWAY_PORT).toBe(8080);
    expect(config.ISSUER).toBe("http://localhost:3000");
    expect(config.databaseKind).toBe("sqlite");
    expect(config.DATABASE_URL).toMatch(/^file:.*data\/gatehouse\.db$/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test("DATABASE_URL selects PostgreSQL or a SQLite file elsewhere", () => {
    expect(loadConfig({ DATABASE_URL: "postgresql://u@h/db" }, { dotenv: false }).databaseKind).toBe("postgresql");
    expect(loadConfig({ DATABASE_URL: "file:/tmp/x.db" }, { dotenv: false }).DATABASE_URL).toBe("file:/tmp/x.db");
  });

  test("a bad value names the variable and the reason", () => {
    expect(() => loadConfig({ PORT: "http" }, { dotenv: false })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: "70000", ISSUER: "http://x/" }, { dotenv: false })).toThrow(/PORT: .*\n.*ISSUER: must not end with \//);
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" }, { dotenv: false })).toThrow(/DATABASE_URL: must start with file: or postgresql:\/\//);
    expect(() => loadConfig({ KEY_ENCRYPTION_SECRET: "short" }, { dotenv: false })).toThrow(/KEY_ENCRYPTION_SECRET: must be at least 32 characters/);
    expect(() => loadConfig({ GATEWAY_HEADERS_TIMEOUT_MS: "70000" }, { dotenv: false })).toThrow(/GATEWAY_HEADERS_TIMEOUT_MS: must not exceed GATEWAY_REQUEST_TIMEOUT_MS/);
    expect(loadConfig({ TRUST_PROXY: "true" }, { dotenv: false }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: "2" }, { dotenv: false }).TRUST_PROXY).toBe(2);
    expect(() => loadConfig({ TRUST_PROXY: "yes" }, { dotenv: false })).toThrow(/TRUST_PROXY/);
  });

  test("the server refuses to start on a bad value with a one-line reason and exit code 1", () => {
    const run = spawnSync(NODE, ["src/main.ts"], { env: { PATH: process.env.PATH ?? "", PORT: "not-a-port" }, encoding: "utf8", timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^gatehouse: invalid configuration:\n {2}PORT: /);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
