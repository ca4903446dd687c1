// The only place that creates a Prisma client. SQLite (embedded default) and PostgreSQL share one
// schema source of truth; each has its own generated client, and both expose the same API, so the rest
// of Gatehouse is typed against the SQLite one.
import fs from "node:fs";
import path from "node:path";
import { PrismaLibSQL } from "@prisma/adapter-libsql";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/sqlite/client.ts";
import { PrismaClient as PgPrismaClient } from "./generated/postgresql/client.ts";

export type Database = PrismaClient;
export type DatabaseKind = "sqlite" | "postgresql";

export function databaseKind(url: string): DatabaseKind {
  return url.startsWith("file:") ? "sqlite" : "postgresql";
}

export function openDatabase(url: string): Database {
  if (databaseKind(url) === "sqlite") {
    const file = url.slice("file:".length);
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return new PrismaClient({ adapter: new PrismaLibSQL({ url }) });
  }
  const pg = new PgPrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
  return pg as unknown as Database;
}
