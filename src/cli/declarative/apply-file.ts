// Makes the database match a declarative file, entry by entry, through the services' upsert/replace,
// which report whether anything changed: applying the same file twice changes nothing the second time.
// Entries absent from the file are left alone, routes included: an API's routes the file no longer
// lists stay until `gatehouse route delete` removes them.
import type { Services } from "../../services/index.ts";
import { ValidationError } from "../../services/errors.ts";
import { generateSecret } from "../../services/passwords.ts";
import { entryToApiSpec, entryToClientSpec, entryToRouteSpec, type DeclarativeFile } from "./file-schema.ts";

type Outcome = "created" | "updated" | "unchanged";

export interface Tally {
  created: number;
  updated: number;
  unchanged: number;
}

/** Secrets and passwords generated for entries that gave none: reported once, stored only hashed. */
interface Generated {
  client_secrets: { client_id: string; client_secret: string }[];
  passwords: { username: string; password: string }[];
}

export interface ApplyReport {
  scopes: Tally;
  apis: Tally;
  routes: Tally;
  clients: Tally;
  users: Tally;
  changes: number;
  generated_client_secrets: Generated["client_secrets"];
  generated_passwords: Generated["passwords"];
}

function outcome(existed: boolean, changed: boolean): Outcome {
  return !changed ? "unchanged" : existed ? "updated" : "created";
}

function tally(outcomes: Outcome[]): Tally {
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  return { created: count("created"), updated: count("updated"), unchanged: count("unchanged") };
}

/** A validation error already prefixed with the path of the entry it is about. */
class EntryError extends ValidationError {}

/** Applies each entry in order, prefixing a service's validation message with the entry's path. */
async function eachEntry<T>(path: string, entries: T[], apply: (entry: T, path: string) => Promise<Outcome>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const [i, entry] of entries.entries()) {
    try {
      outcomes.push(await apply(entry, `${path}[${i}]`));
    } catch (error) {
      if (error instanceof ValidationError && !(error instanceof EntryError)) throw new EntryError(`${path}[${i}]: ${error.message}`);
      throw error;
    }
  }
  return outcomes;
}

async function applyScopes(services: Services, file: DeclarativeFile): Promise<Outcome[]> {
  const existing = new Set((await services.scopes.list()).map((s) => s.name));
  return eachEntry("scopes", file.scopes, async (entry) => outcome(existing.has(entry.name), (await services.scopes.upsert(entry)).changed));
}

/** Each API, then the routes nested in it, which are matched to stored ones by path prefix and host. */
async function applyApis(services: Services, file: DeclarativeFile): Promise<{ apis: Outcome[]; routes: Outcome[] }> {
  const existing = new Set((await services.apis.list()).map((a) => a.identifier));
  const routes: Outcome[] = [];
  const apis = await eachEntry("apis", file.apis, async (entry, path) => {
    const result = outcome(existing.has(entry.identifier), (await services.apis.upsert(entryToApiSpec(entry))).changed);
    const stored = new Set((await services.routes.list(entry.identifier)).map((r) => JSON.stringify([r.pathPrefix, r.host])));
    routes.push(
      ...(await eachEntry(`${path}.routes`, entry.routes, async (route) => {
        const existed = stored.has(JSON.stringify([route.path_prefix, route.host]));
        return outcome(existed, (await services.routes.upsert(entryToRouteSpec(entry.identifier, route))).changed);
      })),
    );
    return result;
  });
  return { apis, routes };
}

async function applyClients(services: Services, file: DeclarativeFile, generated: Generated): Promise<Outcome[]> {
  const existing = new Map((await services.clients.list()).map((c) => [c.clientId, c]));
  return eachEntry("clients", file.clients, async (entry) => {
    const spec = entryToClientSpec(entry);
    const current = existing.get(entry.client_id);
    if (!current) {
      const { clientSecret } = await services.clients.create(spec, { secret: entry.client_secret });
      if (clientSecret && !entry.client_secret) generated.client_secrets.push({ client_id: entry.client_id, client_secret: clientSecret });
      return "created";
    }
    // A client that had no secret (it was public, say) and now needs one gets a generated one;
    // replace() ignores it while the client still needs none.
    const fresh = entry.client_secret || current.hasSecret ? undefined : generateSecret();
    const { client, changed } = await services.clients.replace(entry.client_id, spec, { secret: entry.client_secret ?? fresh });
    if (fresh && client.hasSecret) generated.client_secrets.push({ client_id: entry.client_id, client_secret: fresh });
    return outcome(true, changed);
  });
}

async function applyUsers(services: Services, file: DeclarativeFile, generated: Generated): Promise<Outcome[]> {
  const existing = new Set((await services.users.list()).map((u) => u.username));
  return eachEntry("users", file.users, async (entry) => {
    const existed = existing.has(entry.username);
    let password = entry.password;
    if (!existed && !password) {
      password = generateSecret();
      generated.passwords.push({ username: entry.username, password });
    }
    return outcome(existed, (await services.users.upsert({ ...entry, password })).changed);
  });
}

export async function applyFile(services: Services, file: DeclarativeFile): Promise<ApplyReport> {
  const generated: Generated = { client_secrets: [], passwords: [] };
  const scopes = tally(await applyScopes(services, file));
  const applied = await applyApis(services, file);
  const apis = tally(applied.apis);
  const routes = tally(applied.routes);
  const clients = tally(await applyClients(services, file, generated));
  const users = tally(await applyUsers(services, file, generated));
  const changes = [scopes, apis, routes, clients, users].reduce((n, t) => n + t.created + t.updated, 0);
  return {
    scopes,
    apis,
    routes,
    clients,
    users,
    changes,
    generated_client_secrets: generated.client_secrets,
    generated_passwords: generated.passwords,
  };
}
