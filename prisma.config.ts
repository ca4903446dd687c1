// Prisma CLI configuration, for `prisma generate` and `prisma migrate diff` (prisma/migrations.sh):
// the CLI runs offline with the JS engine and a driver adapter (see README, "Development"), and the
// server applies migrations itself. DATABASE_URL picks the schema twin: postgresql://... uses
// prisma/postgresql, anything else the embedded SQLite schema; without one, the adapter gets an
// in-memory database, since these commands only compare schemas.
import { defineConfig } from "prisma/config";
import { PrismaLibSQL } from "@prisma/adapter-libsql";
import { PrismaPg } from "@prisma/adapter-pg";

const url = process.env.DATABASE_URL ?? "file::memory:";
const postgres = /^postgres(ql)?:\/\//.test(url);

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => (postgres ? new PrismaPg({ connectionString: url }) : new PrismaLibSQL({ url })),
  schema: postgres ? "prisma/postgresql/schema.prisma" : "prisma/schema.prisma",
  migrations: { path: postgres ? "prisma/postgresql/migrations" : "prisma/migrations" },
});
