// Paging and text search, the same on both databases.
import type { DatabaseKind } from "./database.ts";

/** A page of a list: `offset` entries skipped, at most `limit` returned, filtered by `search` when given. */
export interface PageQuery {
  search?: string;
  offset: number;
  limit: number;
}

/**
 * Reads a whole table `batch` rows at a time in key order (keyset paging: each batch starts after the
 * last key of the one before), so a large table never sits in memory whole. `read(after)` returns the
 * rows after that key (all from the first when undefined), at most `batch`; `keyOf` names a row's key.
 */
export async function forEachBatch<Row>(read: (after: string | undefined) => Promise<Row[]>, keyOf: (row: Row) => string, each: (row: Row) => void, batch: number): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const rows = await read(after);
    for (const row of rows) each(row);
    if (rows.length < batch) return;
    after = keyOf(rows.at(-1)!);
  }
}

/**
 * A Prisma filter for "contains this text, in any case". SQLite's LIKE ignores ASCII case already;
 * PostgreSQL needs mode "insensitive", which Prisma refuses on SQLite.
 */
export function containsText(kind: DatabaseKind, text: string) {
  return kind === "postgresql" ? { contains: text, mode: "insensitive" as const } : { contains: text };
}
