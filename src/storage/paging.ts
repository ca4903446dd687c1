// Paging and text search, the same on both databases.
import type { DatabaseKind } from "./database.ts";

/** A page of a list: `offset` entries skipped, at most `limit` returned, filtered by `search` when given. */
export interface PageQuery {
  search?: string;
  offset: number;
  limit: number;
}

/**
 * A Prisma filter for "contains this text, in any case". SQLite's LIKE ignores ASCII case already;
 * PostgreSQL needs mode "insensitive", which Prisma refuses on SQLite.
 */
export function containsText(kind: DatabaseKind, text: string) {
  return kind === "postgresql" ? { contains: text, mode: "insensitive" as const } : { contains: text };
}
