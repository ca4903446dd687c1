// Prisma CLI configuration. The CLI runs offline with the JS engine and a driver adapter
// (see README, "Development"). DATABASE_URL picks the schema twin: postgresql://... uses
// prisma/postgresql, anything else (unset or file:...) the embedded SQLite schema.
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaLibSQL } from "@prisma/adapter-libsql";
import { PrismaPg } from "@prisma/adapter-pg";

const url = process.env.DATABASE_URL ?? `file:${path.resolve("data/gatehouse.db")}`;
const postgres = /^postgres(ql)?:\/\//.test(url);

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => (postgres ? new PrismaPg({ connectionString: url }) : new PrismaLibSQL({ url })),
  schema: postgres ? "prisma/postgresql/schema.prisma" : "prisma/schema.prisma",
  migrations: { path: postgres ? "prisma/postgresql/migrations" : "prisma/migrations" },
});
