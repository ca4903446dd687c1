// Preloaded into Gatehouse (`node --import`) by `token.ts --queries`: counts every SQL statement the
// process hands to SQLite, without touching src/. Prisma's libsql adapter runs each query through the
// project's @libsql/client (src/storage/database.ts) and its `libsql` driver (Database#prepare, and
// Database#exec for BEGIN/COMMIT), so wrapping those two methods on that driver sees all of them. SIGUSR2 writes the running totals to stderr as one
// "BENCH_QUERY_COUNTS {json}" line, which token.ts reads before and after a measurement.
import { createRequire } from "node:module";

interface Driver {
  prototype: Record<"prepare" | "exec", (this: unknown, sql: string, ...rest: unknown[]) => unknown>;
}

const client = createRequire(import.meta.url).resolve("@libsql/client");
const Database = createRequire(client)("libsql") as Driver;

const counts = new Map<string, number>();
for (const method of ["prepare", "exec"] as const) {
  const original = Database.prototype[method];
  Database.prototype[method] = function (sql, ...rest) {
    counts.set(sql, (counts.get(sql) ?? 0) + 1);
    return original.call(this, sql, ...rest);
  };
}

process.on("SIGUSR2", () => {
  process.stderr.write(`BENCH_QUERY_COUNTS ${JSON.stringify(Object.fromEntries(counts))}\n`);
});
