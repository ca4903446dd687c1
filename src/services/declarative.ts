// The declarative file (`gatehouse apply` / `export`, and the admin API's equivalents): the whole
// configuration as scopes, APIs with their routes nested, clients and users, in the very input shapes
// the services take. Applying makes the database match the file entry by entry through each service's
// apply, which reports whether anything changed, so applying the same file twice changes nothing the
// second time. Entries absent from the file are left alone, routes included. An existing API's or
// route's entry sets only the fields it gives (the others keep their stored values), and the policies it
// names (the others stay attached): apply never deletes or detaches anything.
//
// `${NAME}` in a string is replaced by that environment variable, so secrets and passwords stay out of
// the file; except inside an outbound_oauth policy (of an API or a route): there references are stored
// as written and the gateway resolves them from its own environment at request time, so one file serves
// every deployment.
//
// Gateway behaviour is in each API's and route's `policies` (services/policies.ts). An API's former
// fields claim_headers, forward_token and outbound_oauth are still read, as the policies they now are;
// `export` writes only `policies`.
import { z } from "zod";
import { apiInputOf, apiInputSchema, type ApiService } from "./apis.ts";
import { clientInputOf, clientInputSchema, type ClientService } from "./clients.ts";
import { ValidationError, formatPath, parseInput } from "./errors.ts";
import { keepsReferencesAt, type PoliciesInput } from "./policies.ts";
import { issuerInputOf, issuerInputSchema, type IssuerService } from "./issuers.ts";
import { routeInputOf, routeInputSchema, type RouteService } from "./routes.ts";
import { scopeInputSchema, type ScopeService } from "./scopes.ts";
import { userInputOf, userInputSchema, type UserService } from "./users.ts";

/**
 * A list whose entries must differ in `keys` (taken together): a repeated entry would make every apply
 * undo the other.
 */
function uniqueList<T extends z.ZodType>(entry: T, ...keys: string[]) {
  return z
    .array(entry)
    .default([])
    .superRefine((entries, ctx) => {
      const seen = new Set<string>();
      entries.forEach((e, i) => {
        const id = JSON.stringify(keys.map((key) => (e as Record<string, unknown>)[key]));
        if (seen.has(id)) ctx.addIssue({ code: "custom", path: [i, keys[0]!], message: `duplicate ${keys[0]} ${String((e as Record<string, unknown>)[keys[0]!])}` });
        seen.add(id);
      });
    });
}

export const declarativeFileSchema = z
  .object({
    scopes: uniqueList(scopeInputSchema, "name"),
    apis: uniqueList(apiInputSchema.extend({ routes: uniqueList(routeInputSchema, "path_prefix", "host") }), "identifier"),
    clients: uniqueList(clientInputSchema.safeExtend({ client_id: clientInputSchema.shape.client_id.unwrap() }), "client_id"),
    users: uniqueList(userInputSchema, "username"),
    issuers: uniqueList(issuerInputSchema, "issuer"),
  })
  .strict();

export type DeclarativeFile = z.infer<typeof declarativeFileSchema>;

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Paths of the file whose references are left for the gateway: inside a policy that resolves them (`apis[i].policies.outbound_oauth`), or an API's deprecated `outbound_oauth`. */
function keptForGateway(path: readonly PropertyKey[]): boolean {
  return (path[0] === "apis" && typeof path[1] === "number" && path[2] === "outbound_oauth") || keepsReferencesAt(path);
}

/** Replaces `${NAME}` references with environment variables, before validation, so the values are checked too. */
export function resolveEnvReferences(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[] = []): unknown {
  if (keptForGateway(path)) return value;
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_, name: string) => {
      const resolved = env[name];
      if (resolved === undefined) throw new ValidationError([{ field: formatPath(path), message: `environment variable ${name} is not set` }]);
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnvReferences(item, env, [...path, i]));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvReferences(v, env, [...path, k])]));
  }
  return value;
}

type Outcome = "created" | "updated" | "unchanged";

export interface Tally {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ApplyReport {
  scopes: Tally;
  apis: Tally;
  routes: Tally;
  clients: Tally;
  users: Tally;
  issuers: Tally;
  changes: number;
  /** Secrets and passwords generated for entries that gave none: reported once, stored only hashed. */
  generated_client_secrets: { client_id: string; client_secret: string }[];
  generated_passwords: { username: string; password: string }[];
}

function tally(outcomes: Outcome[]): Tally {
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  return { created: count("created"), updated: count("updated"), unchanged: count("unchanged") };
}

/** A refusal whose fields already name their place in the file. */
class EntryError extends ValidationError {}

/** Applies each entry in order; a refusal names the entry's path in the file. */
async function eachEntry<T>(path: string, entries: T[], apply: (entry: T, path: string) => Promise<Outcome>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const [i, entry] of entries.entries()) {
    try {
      outcomes.push(await apply(entry, `${path}[${i}]`));
    } catch (error) {
      if (error instanceof ValidationError && !(error instanceof EntryError)) throw new EntryError(error.within(`${path}[${i}]`).issues);
      throw error;
    }
  }
  return outcomes;
}

/** Unset (null) fields are left out of an export: the file's defaults give them back. */
function withoutNulls<T extends object>(entry: T): Partial<T> {
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== null)) as Partial<T>;
}

/** An entry's policies as exported: each one's unset fields left out, and no `policies` at all when none is attached. */
function withPolicies<T extends { policies: PoliciesInput }>({ policies, ...entry }: T): Omit<T, "policies"> & { policies?: PoliciesInput } {
  const attached = Object.entries(policies);
  return { ...entry, ...(attached.length ? { policies: Object.fromEntries(attached.map(([id, config]) => [id, withoutNulls(config as object)])) } : {}) };
}

/** The entries of a parsed file as written (before defaults), by parsed entry: APIs (without routes) and routes. */
const givenFields = new WeakMap<object, Record<string, unknown>>();

/** An API or route entry as the file gave it, so that apply keeps what it leaves out (the parsed entry when it was not parsed from a file). */
function given<T extends object>(entry: T): T {
  return (givenFields.get(entry) as T | undefined) ?? entry;
}

interface EntityServices {
  scopes: ScopeService;
  apis: ApiService;
  routes: RouteService;
  clients: ClientService;
  users: UserService;
  issuers: IssuerService;
}

export class DeclarativeService {
  private readonly services: EntityServices;

  constructor(services: EntityServices) {
    this.services = services;
  }

  /**
   * Validates a parsed file (YAML or JSON), `${NAME}` references resolved from env.
   * @throws ValidationError with the path of every bad value in the file
   */
  parse(content: unknown, env: NodeJS.ProcessEnv): DeclarativeFile {
    const resolved = resolveEnvReferences(content ?? {}, env);
    const file = parseInput(declarativeFileSchema, resolved, "file");
    // An existing API or route keeps the fields its entry leaves out: apply needs to know which were given.
    const rawApis = (resolved as { apis?: Record<string, unknown>[] }).apis ?? [];
    file.apis.forEach((api, i) => {
      const { routes: rawRoutes, ...rawApi } = rawApis[i]!;
      givenFields.set(api, rawApi);
      api.routes.forEach((route, j) => givenFields.set(route, (rawRoutes as Record<string, unknown>[])[j]!));
    });
    return file;
  }

  /** Makes the configuration match the file (scopes, then APIs and their routes, clients, users, trusted issuers). */
  async apply(file: DeclarativeFile): Promise<ApplyReport> {
    const { scopes, apis, routes, clients, users, issuers } = this.services;
    const report = { generated_client_secrets: [] as ApplyReport["generated_client_secrets"], generated_passwords: [] as ApplyReport["generated_passwords"] };
    const scopeOutcomes = await eachEntry("scopes", file.scopes, async (entry) => (await scopes.apply(entry)).outcome);
    const routeOutcomes: Outcome[] = [];
    const apiOutcomes = await eachEntry("apis", file.apis, async (parsed, path) => {
      const { routes: nested, ...entry } = parsed;
      const { outcome } = await apis.apply(givenFields.has(parsed) ? (givenFields.get(parsed) as typeof entry) : entry);
      routeOutcomes.push(...(await eachEntry(`${path}.routes`, nested, async (route) => (await routes.apply(entry.identifier, given(route))).outcome)));
      return outcome;
    });
    const clientOutcomes = await eachEntry("clients", file.clients, async (entry) => {
      const applied = await clients.apply(entry);
      if (applied.client_secret) report.generated_client_secrets.push({ client_id: entry.client_id, client_secret: applied.client_secret });
      return applied.outcome;
    });
    const userOutcomes = await eachEntry("users", file.users, async (entry) => {
      const applied = await users.apply(entry);
      if (applied.password) report.generated_passwords.push({ username: entry.username, password: applied.password });
      return applied.outcome;
    });
    const issuerOutcomes = await eachEntry("issuers", file.issuers, async (entry) => (await issuers.apply(entry)).outcome);
    const tallies = {
      scopes: tally(scopeOutcomes),
      apis: tally(apiOutcomes),
      routes: tally(routeOutcomes),
      clients: tally(clientOutcomes),
      users: tally(userOutcomes),
      issuers: tally(issuerOutcomes),
    };
    const changes = Object.values(tallies).reduce((n, t) => n + t.created + t.updated, 0);
    return { ...tallies, changes, ...report };
  }

  /**
   * The current configuration as a file. Never secrets or hashes: applying the export keeps every
   * client's secret, every outbound OAuth policy's client secret and every user's password as they are.
   */
  async export(): Promise<Record<keyof DeclarativeFile, object[]>> {
    const { scopes, apis, routes, clients, users, issuers } = this.services;
    const allRoutes = await routes.list();
    return {
      scopes: await scopes.list(),
      apis: (await apis.list()).map((api) => {
        const own = allRoutes.filter((r) => r.api === api.identifier).map((r) => withoutNulls(withPolicies(routeInputOf(r))));
        return withoutNulls({ ...withPolicies(apiInputOf(api)), ...(own.length ? { routes: own } : {}) });
      }),
      clients: (await clients.all()).map((c) => withoutNulls(clientInputOf(c))),
      users: (await users.all()).map((u) => {
        // Only a requirement is written: a file that leaves it out keeps the user's as it is.
        const { password_change_required: required, ...entry } = userInputOf(u);
        return withoutNulls({ ...entry, ...(required ? { password_change_required: true } : {}) });
      }),
      issuers: (await issuers.list()).map((i) => withoutNulls(issuerInputOf(i))),
    };
  }
}
