// A fresh, empty database per test suite on either backend, plus the environment Gatehouse needs to use it.
// PostgreSQL runs locally with trust auth (see PLATFORM.md); each call creates its own database and drops it after.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export type Backend = "sqlite" | "postgresql";
export const BACKENDS: Backend[] = ["sqlite", "postgresql"];
/**
 * For command-line tests whose storage paths the admin API's tests (test/admin, on both databases) and
 * the services' tests already run on PostgreSQL: the CLI is one more front end over the same services,
 * so running every CLI test twice (a process per command) costs minutes and finds nothing new. Only the
 * CLI's apply/export of clients, scopes and users (one transaction-heavy path) still runs on both.
 */
export const CLI_BACKENDS: Backend[] = ["sqlite"];
/**
 * For browser-driven protocol tests whose storage the adapter's tests (test/storage, both databases)
 * already cover statement by statement: the device flow's pages and polling run on SQLite.
 */
export const PROTOCOL_ONLY_BACKENDS: Backend[] = ["sqlite"];

const POSTGRES_SERVER = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432";

export interface FreshDatabase {
  url: string;
  dataDir: string;
  env: Record<string, string>;
  drop(): Promise<void>;
}

async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function freshDatabase(backend: Backend): Promise<FreshDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-test-"));
  const name = `gatehouse_test_${crypto.randomBytes(6).toString("hex")}`;
  let url = `file:${path.join(dataDir, "gatehouse.db")}`;
  if (backend === "postgresql") {
    await onServer(`CREATE DATABASE "${name}"`);
    url = `${POSTGRES_SERVER}/${name}`;
  }
  const env = {
    DATABASE_URL: url,
    DATA_DIR: dataDir,
    KEY_ENCRYPTION_SECRET: crypto.randomBytes(32).toString("base64url"),
    COOKIE_SECRETS: crypto.randomBytes(32).toString("base64url"),
    DPOP_NONCE_SECRET: crypto.randomBytes(32).toString("base64url"),
    LOG_LEVEL: "warn",
  };
  return {
    url,
    dataDir,
    env,
    async drop() {
      // WITH (FORCE) ends connections a crashed test may have left open.
      if (backend === "postgresql") await onServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
