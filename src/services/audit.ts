// The audit log: every change made through the services, by whom (console user, admin API client, CLI
// user or Gatehouse itself), to which entity, and which public fields changed. Resources never hold a
// secret, a hash or a password, so neither does the log.
import type { AuditRecord, Storage } from "../storage/index.ts";
import type { Actor } from "./context.ts";
import { listQuerySchema, type Page } from "./paging.ts";
import { parseInput } from "./errors.ts";
import { sameJson } from "./same-json.ts";
import { z } from "zod";

export type EntityType = "client" | "scope" | "api" | "route" | "user" | "key" | "issuer";

/** An audit event as the CLI, the admin API and the console show it. */
export interface AuditEventResource {
  id: string;
  at: string;
  actor_kind: string;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  changes: Record<string, unknown> | null;
}

export const auditQuerySchema = listQuerySchema
  .omit({ search: true })
  .extend({
    entity_type: z.enum(["client", "scope", "api", "route", "user", "key", "issuer"]).optional(),
    entity_id: z.string().max(500).optional(),
    actor: z.string().max(200).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export type AuditQueryInput = z.input<typeof auditQuerySchema>;

function resource(record: AuditRecord): AuditEventResource {
  return {
    id: record.id,
    at: record.at.toISOString(),
    actor_kind: record.actorKind,
    actor: record.actor,
    action: record.action,
    entity_type: record.entityType,
    entity_id: record.entityId,
    changes: record.changes,
  };
}

/** { field: [before, after] } for every top-level field whose value differs. */
export function changedFields(before: object, after: object): Record<string, [unknown, unknown]> {
  const changes: Record<string, [unknown, unknown]> = {};
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const field of fields) {
    const a = (before as Record<string, unknown>)[field];
    const b = (after as Record<string, unknown>)[field];
    if (!sameJson(a ?? null, b ?? null)) changes[field] = [a ?? null, b ?? null];
  }
  return changes;
}

export class AuditService {
  private readonly storage: Storage;
  private readonly actor: Actor;

  constructor(storage: Storage, actor: Actor) {
    this.storage = storage;
    this.actor = actor;
  }

  /** Records one change made by this service's actor. */
  async record(action: string, entityType: EntityType, entityId: string, changes: Record<string, unknown> | null = null): Promise<void> {
    await this.storage.audit.append({ actorKind: this.actor.kind, actor: this.actor.name, action, entityType, entityId, changes });
  }

  /** Newest first. */
  async list(query: AuditQueryInput = {}): Promise<Page<AuditEventResource>> {
    const q = parseInput(auditQuerySchema, query);
    const page = await this.storage.audit.page({
      entityType: q.entity_type,
      entityId: q.entity_id,
      actor: q.actor,
      since: q.since ? new Date(q.since) : undefined,
      offset: q.offset,
      limit: q.limit,
    });
    return { items: page.items.map(resource), total: page.total, offset: q.offset, limit: q.limit };
  }
}
