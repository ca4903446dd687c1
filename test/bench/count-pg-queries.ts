// Preloaded into Gatehouse (`node --import`) by login-cost.ts: counts every SQL statement the process
// hands to PostgreSQL, without touching src/. Prisma's pg adapter sends each query through
// Client#query of its own copy of `pg`; wrapping that method sees all of them (BEGIN/COMMIT included).
// Each statement is keyed by its verb, its first table and, for "OidcArtifact", the oidc-provider model
// among its parameters (the adapter always filters or writes by model), e.g.
// "UPDATE OidcArtifact AuthorizationCode". SIGUSR2 writes the running totals to stderr as one
// "BENCH_PG_COUNTS {json}" line.
import { createRequire } from "node:module";

interface PgClient {
  prototype: { query: (this: unknown, config: unknown, ...rest: unknown[]) => unknown };
}

const adapter = createRequire(import.meta.url).resolve("@prisma/adapter-pg");
const pg = createRequire(adapter)("pg") as { Client: PgClient };

const MODELS = new Set(["Session", "Interaction", "AuthorizationCode", "Grant", "RefreshToken", "AccessToken", "ReplayDetection", "ClientCredentials", "DeviceCode", "PushedAuthorizationRequest", "BackchannelAuthenticationRequest", "RegistrationAccessToken", "InitialAccessToken"]);

const counts = new Map<string, number>();
const texts = new Map<string, string>();

function key(text: string, values: unknown[] | undefined): string {
  const verb = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? "?";
  const table = /"public"\."(\w+)"/.exec(text)?.[1] ?? /(?:FROM|INTO|UPDATE)\s+"?(\w+)"?/i.exec(text)?.[1] ?? "";
  let model = "";
  if (table === "OidcArtifact") {
    const named = (values ?? []).find((v) => typeof v === "string" && MODELS.has(v));
    // deleteMany by grantId names several models in one array parameter
    const inList = (values ?? []).find((v) => Array.isArray(v) && v.some((x) => MODELS.has(x as string)));
    model = typeof named === "string" ? named : inList ? `[${(inList as string[]).join(",")}]` : "(no model)";
  }
  return [verb, table, model].filter(Boolean).join(" ");
}

const original = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  const text = typeof config === "string" ? config : (config as { text?: string })?.text ?? "";
  const values = typeof config === "object" && config ? (config as { values?: unknown[] }).values : (rest[0] as unknown[] | undefined);
  const k = key(text, Array.isArray(values) ? values : undefined);
  counts.set(k, (counts.get(k) ?? 0) + 1);
  if (!texts.has(k)) texts.set(k, text.slice(0, 400));
  return original.call(this, config, ...rest);
};

process.on("SIGUSR2", () => {
  process.stderr.write(`BENCH_PG_COUNTS ${JSON.stringify({ counts: Object.fromEntries(counts), texts: Object.fromEntries(texts) })}\n`);
});
