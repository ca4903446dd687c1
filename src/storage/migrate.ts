// Applies the checked-in SQL migrations (prisma/migrations for SQLite, prisma/postgresql/migrations
// for PostgreSQL) in order, each once, recording them in _gatehouse_migrations. Prisma's own
// `migrate deploy` cannot run here against PostgreSQL through the driver adapter (see README,
// "Development"), and spawning its CLI costs 1.6 s per start; the SQL files are Prisma's output.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Database, DatabaseKind } from "./database.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const directories: Record<DatabaseKind, string> = {
  sqlite: path.join(root, "prisma/migrations"),
  postgresql: path.join(root, "prisma/postgresql/migrations"),
};

/**
 * Data a schema migration cannot express (the migration files are Prisma's own output, checked for drift
 * by `npm run db:check`): run once, in the same transaction, right after the migration whose name (without
 * its timestamp) is the key.
 */
const DATA_STEPS: Record<string, Record<DatabaseKind, string[]>> = {
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
};

/** Splits a migration script into statements (Prisma's scripts end each statement with ";\n"). */
function statements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
    .filter(Boolean);
}

export async function migrate(db: Database, kind: DatabaseKind): Promise<string[]> {
  const dir = directories[kind];
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  await db.$executeRawUnsafe(
    `CREATE TABLE IF NOT EXISTS "_gatehouse_migrations" ("name" TEXT PRIMARY KEY, "appliedAt" TEXT NOT NULL)`,
  );
  const applied: string[] = [];
  await db.$transaction(async (tx) => {
    // Several instances may start at once on PostgreSQL: one migrates, the others wait here.
    if (kind === "postgresql") await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(727274)`);
    const done = new Set(
      (await tx.$queryRawUnsafe<{ name: string }[]>(`SELECT "name" FROM "_gatehouse_migrations"`)).map((r) => r.name),
    );
    for (const name of names) {
      if (done.has(name)) continue;
      for (const statement of statements(fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8"))) {
        await tx.$executeRawUnsafe(statement);
      }
      for (const statement of DATA_STEPS[name.replace(/^\d+_/, "")]?.[kind] ?? []) await tx.$executeRawUnsafe(statement);
      await tx.$executeRawUnsafe(
        `INSERT INTO "_gatehouse_migrations" ("name", "appliedAt") VALUES ($1, $2)`,
        name,
        new Date().toISOString(),
      );
      applied.push(name);
    }
  }, { timeout: 60_000 });
  return applied;
}
