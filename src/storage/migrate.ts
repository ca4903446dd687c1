// Applies the checked-in SQL migrations (prisma/migrations for SQLite, prisma/postgresql/migrations
// for PostgreSQL) in order, each once, recording them in _gatehouse_migrations. Prisma's own
// `migrate deploy` cannot run here against PostgreSQL through the driver adapter (see README,
// "Development"), and spawning its CLI costs 1.6 s per start; the SQL files are Prisma's output.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Database, DatabaseKind } from "./database.ts";
import { migrateGatewayPolicies, type MigrationTransaction } from "./data-migrations/gateway-policies.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const directories: Record<DatabaseKind, string> = {
  sqlite: path.join(root, "prisma/migrations"),
  postgresql: path.join(root, "prisma/postgresql/migrations"),
};

/** A data step written as code, for a conversion SQL cannot say in both dialects. */
type DataStep = string | ((tx: MigrationTransaction, kind: DatabaseKind) => Promise<void>);

/**
 * Data a schema migration cannot express (the migration files are Prisma's own output, checked for drift
 * by `npm run db:check`): run once, in the same transaction, right after the migration whose name (without
 * its timestamp) is the key.
 */
const DATA_STEPS: Record<string, Record<DatabaseKind, DataStep[]>> = {
  security_hardening: {
    // Artifacts written before the owner columns existed; counters of the former throttling scheme.
    sqlite: [
      `UPDATE "OidcArtifact" SET "clientId" = json_extract("payload", '$.clientId'), "accountId" = json_extract("payload", '$.accountId')`,
      `DELETE FROM "LoginThrottle"`,
    ],
    postgresql: [
      `UPDATE "OidcArtifact" SET "clientId" = "payload"::jsonb->>'clientId', "accountId" = "payload"::jsonb->>'accountId'`,
      `DELETE FROM "LoginThrottle"`,
    ],
  },
  // Claim headers, token forwarding and outbound OAuth become policies, before gateway_policy_columns drops their columns.
  gateway_policies: { sqlite: [migrateGatewayPolicies], postgresql: [migrateGatewayPolicies] },
};

/** Splits a migration script into statements (Prisma's scripts end each statement with ";\n"). */
function statements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
    .filter(Boolean);
}

/**
 * @param options.before stop before the migration of this name (without its timestamp): a database as an
 *   older release left it, for testing a migration on real data
 * @returns the names of the migrations applied
 */
export async function migrate(db: Database, kind: DatabaseKind, options: { before?: string } = {}): Promise<string[]> {
  const dir = directories[kind];
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const applied: string[] = [];
  // SQLite ignores PRAGMA foreign_keys inside a transaction, so a migration that rebuilds a table others
  // reference (Prisma's "RedefineTables": create, copy, DROP, rename) would have the DROP's implicit
  // delete cascade to the referencing rows (an Api's routes). Foreign keys are off for the migration
  // (the connection is the transaction's), checked before it commits, and on again after.
  if (kind === "sqlite") await db.$executeRawUnsafe("PRAGMA foreign_keys=OFF");
  try {
    await migrateAll();
  } finally {
    if (kind === "sqlite") await db.$executeRawUnsafe("PRAGMA foreign_keys=ON");
  }
  return applied;

  async function migrateAll(): Promise<void> {
    await db.$transaction(async (tx) => {
      // Several instances may start at once on PostgreSQL: one migrates, the others wait here.
      if (kind === "postgresql") await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(727274)`);
      // Under the lock: two concurrent CREATE TABLE IF NOT EXISTS can both find it missing on PostgreSQL,
      // and the second then fails on the catalog's unique index.
      await tx.$executeRawUnsafe(
        `CREATE TABLE IF NOT EXISTS "_gatehouse_migrations" ("name" TEXT PRIMARY KEY, "appliedAt" TEXT NOT NULL)`,
      );
      const done = new Set(
        (await tx.$queryRawUnsafe<{ name: string }[]>(`SELECT "name" FROM "_gatehouse_migrations"`)).map((r) => r.name),
      );
      for (const name of names) {
        if (options.before !== undefined && name.replace(/^\d+_/, "") === options.before) break;
        if (done.has(name)) continue;
        for (const statement of statements(fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8"))) {
          await tx.$executeRawUnsafe(statement);
        }
        for (const step of DATA_STEPS[name.replace(/^\d+_/, "")]?.[kind] ?? []) {
          if (typeof step === "string") await tx.$executeRawUnsafe(step);
          else await step(tx, kind);
        }
        await tx.$executeRawUnsafe(
          `INSERT INTO "_gatehouse_migrations" ("name", "appliedAt") VALUES ($1, $2)`,
          name,
          new Date().toISOString(),
        );
        applied.push(name);
      }
      if (kind === "sqlite" && applied.length) {
        const violations = await tx.$queryRawUnsafe<unknown[]>("PRAGMA foreign_key_check");
        if (violations.length) throw new Error(`the migrations would leave ${violations.length} rows referring to rows that do not exist: ${JSON.stringify(violations.slice(0, 5))}`);
      }
    }, { timeout: 60_000 });
  }
}
