// /v1/audit: the audit log, newest first.
import { z } from "zod";
import { auditQuerySchema, type AuditEventResource } from "../../../services/audit.ts";
import { instant, operation, type SameFields, pageSchema, responseSchema } from "../operation.ts";

const event = responseSchema(
  "AuditEvent",
  z
    .object({
      id: z.string(),
      at: instant,
      actor_kind: z.enum(["admin", "api", "cli", "system", "user"]),
      actor: z.string(),
      action: z.string(),
      entity_type: auditQuerySchema.shape.entity_type.unwrap(),
      entity_id: z.string(),
      changes: z.record(z.string(), z.unknown()).nullable(),
    })
    .strict(),
  "One change: who made it (a console user, an admin API client, a CLI user, Gatehouse itself, or a user on their own account), to what, and the public fields it changed ([before, after]).",
);
true satisfies SameFields<typeof event, AuditEventResource>;

export const auditOperations = [
  operation({
    method: "GET",
    path: "/v1/audit",
    id: "listAuditEvents",
    tag: "Audit",
    summary: "List audit events",
    description: "Newest first, filtered by entity, actor and time.",
    access: "read",
    query: auditQuerySchema,
    success: { status: 200, description: "A page of events.", schema: pageSchema("AuditEventPage", event) },
    handle: async ({ query, services }) => ({ body: await services.audit.list(query) }),
  }),
];
