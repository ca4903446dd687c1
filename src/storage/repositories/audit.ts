import crypto from "node:crypto";
import type { Database } from "../database.ts";
import { assertStorable, storable } from "./storable.ts";

export interface AuditRecord {
  id: string;
  at: Date;
  actorKind: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  changes: Record<string, unknown> | null;
}

export interface AuditQuery {
  entityType?: string;
  entityId?: string;
  actor?: string;
  /** Only events at or after this instant. */
  since?: Date;
  offset?: number;
  limit?: number;
}

/** The audit log: appended to, never changed. Newest first when read. */
export class AuditRepository {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async append(event: Omit<AuditRecord, "id" | "at">): Promise<void> {
    assertStorable("audit event", event);
    await this.db.auditEvent.create({ data: { ...event, id: crypto.randomUUID(), changes: (event.changes ?? undefined) as never } });
  }

  async page(query: AuditQuery = {}): Promise<{ items: AuditRecord[]; total: number }> {
    if (!storable(query.entityType, query.entityId, query.actor)) return { items: [], total: 0 };
    const where = {
      ...(query.entityType ? { entityType: query.entityType } : {}),
      ...(query.entityId ? { entityId: query.entityId } : {}),
      ...(query.actor ? { actor: query.actor } : {}),
      ...(query.since ? { at: { gte: query.since } } : {}),
    };
    const [rows, total] = await Promise.all([
      this.db.auditEvent.findMany({ where, orderBy: [{ at: "desc" }, { id: "asc" }], skip: query.offset ?? 0, take: query.limit ?? 50 }),
      this.db.auditEvent.count({ where }),
    ]);
    return { items: rows.map((r) => ({ ...r, changes: (r.changes as Record<string, unknown> | null) ?? null })), total };
  }
}
