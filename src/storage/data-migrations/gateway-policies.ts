// Data step of the gateway_policies migration: an API's claim headers, token forwarding and outbound
// OAuth were columns of their own; they become the policies of the same names (services/policies.ts),
// stored in the new `policies` column, before the next migration drops the old columns. Only what was
// in effect becomes a policy: an empty claim map, token forwarding "none" and no outbound OAuth attach
// nothing. The outbound client secret stays sealed exactly as it was (same key, same purpose).
import type { DatabaseKind } from "../database.ts";

/** What a migration's data step may use: the transaction it runs in. */
export interface MigrationTransaction {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

interface LegacyRow {
  identifier: string;
  claimHeaders: unknown;
  forwardToken: string | null;
  outboundOAuth: unknown;
  policies: unknown;
}

/** SQLite returns a JSON column as its text, PostgreSQL as the value. */
function json(value: unknown): unknown {
  if (typeof value !== "string") return value ?? null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return null;
  }
}

function object(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function text(value: unknown, fallback: string | null = null): string | null {
  return typeof value === "string" ? value : fallback;
}

/** The policies an API's former columns stand for (merged over any already stored). */
export function legacyPolicies(row: Pick<LegacyRow, "claimHeaders" | "forwardToken" | "outboundOAuth" | "policies">): Record<string, Record<string, unknown>> {
  const policies: Record<string, Record<string, unknown>> = { ...(object(json(row.policies)) as Record<string, Record<string, unknown>> | undefined) };
  const claims = object(json(row.claimHeaders));
  if (claims && Object.keys(claims).length > 0) policies.claim_headers = { claims };
  if (row.forwardToken === "original" || row.forwardToken === "signed") policies.forward_token = { mode: row.forwardToken };
  const outbound = object(json(row.outboundOAuth));
  if (outbound && typeof outbound.clientSecretSealed === "string") {
    policies.outbound_oauth = {
      token_url: text(outbound.tokenUrl, ""),
      client_id: text(outbound.clientId, ""),
      auth_method: outbound.authMethod === "body" ? "body" : "basic",
      scope: text(outbound.scope),
      resource: text(outbound.resource),
      header: text(outbound.header) || "Authorization",
      remove_headers: Array.isArray(outbound.removeHeaders) ? outbound.removeHeaders.filter((h) => typeof h === "string") : [],
      client_secret_sealed: outbound.clientSecretSealed,
    };
  }
  return policies;
}

export async function migrateGatewayPolicies(tx: MigrationTransaction, kind: DatabaseKind): Promise<void> {
  const rows = await tx.$queryRawUnsafe<LegacyRow[]>(`SELECT "identifier", "claimHeaders", "forwardToken", "outboundOAuth", "policies" FROM "Api"`);
  const cast = kind === "postgresql" ? "::jsonb" : "";
  for (const row of rows) {
    const policies = legacyPolicies(row);
    if (Object.keys(policies).length === 0) continue;
    await tx.$executeRawUnsafe(`UPDATE "Api" SET "policies" = $1${cast} WHERE "identifier" = $2`, JSON.stringify(policies), row.identifier);
  }
}
