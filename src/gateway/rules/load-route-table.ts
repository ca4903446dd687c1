// Builds the in-memory route table from storage: the only time routing touches the database, and the
// only time policies are read and compiled (each route gets its handlers per stage, policies/index.ts).
import type { ConfigChange, Storage } from "../../storage/index.ts";
import { compilePolicies, type CompileContext } from "../policies/index.ts";
import type { ApiRecord, RouteRecord } from "../../storage/index.ts";
import type { CompiledRoute } from "../types.ts";
import { RouteTable } from "./route-table.ts";

/**
 * Reads every API and route and compiles them with their policies; throws when a stored route cannot be
 * matched (see canonicalRoute) or a stored policy does not validate.
 */
export async function loadRouteTable(storage: Storage, policies: CompileContext): Promise<RouteTable> {
  // Routes before APIs: deleting an API deletes its routes, so an API missing from the second read
  // means the route read first is gone too, and it is left out rather than half-loaded. Routes are
  // read in batches (a table of tens of thousands is never held twice); the table orders them itself.
  const routes: RouteRecord[] = [];
  await storage.routes.forEach((route) => routes.push(route));
  policies.rateLimits.release?.();
  const apis = new Map((await storage.apis.list()).map((api) => [api.identifier, api]));
  const compiled: CompiledRoute[] = [];
  for (const route of routes) {
    const api = apis.get(route.apiIdentifier);
    if (api) compiled.push({ route, api, policies: compilePolicies(api, route, policies) });
  }
  return new RouteTable(compiled);
}

/**
 * Applies logged changes to the table in place: a route change reloads that route, an API change
 * reloads the API and its routes (their policies compile with the API's), each from the database; one
 * deleted leaves the table. Everything is read and compiled before the table changes, so a throw (as
 * loadRouteTable's) leaves it as it was. Other entities (clients, scopes, issuers, users) are not in the table.
 */
export async function applyRouteChanges(table: RouteTable, storage: Storage, policies: CompileContext, changes: readonly ConfigChange[]): Promise<void> {
  const apiIds = new Set(changes.filter((c) => c.entity === "api").map((c) => c.key));
  const routeIds = new Set(changes.filter((c) => c.entity === "route").map((c) => c.key));
  const apis = new Map<string, ApiRecord | null>();
  const apiOf = async (identifier: string) => {
    if (!apis.has(identifier)) apis.set(identifier, await storage.apis.find(identifier));
    return apis.get(identifier)!;
  };
  const removed: string[] = [];
  const compiled: CompiledRoute[] = [];
  for (const identifier of apiIds) {
    removed.push(...table.routesOf(identifier));
    const api = await apiOf(identifier);
    if (api) for (const route of await storage.routes.list(identifier)) compiled.push({ route, api, policies: compilePolicies(api, route, policies) });
  }
  for (const id of routeIds) {
    removed.push(id);
    const route = await storage.routes.find(id);
    if (!route || apiIds.has(route.apiIdentifier)) continue;
    const api = await apiOf(route.apiIdentifier);
    if (api) compiled.push({ route, api, policies: compilePolicies(api, route, policies) });
  }
  // Checked before anything is taken out: a route that cannot be matched leaves the table as it was.
  const checked = new RouteTable(compiled);
  if (checked.size !== compiled.length) throw new Error("two changed routes share an id");
  for (const id of removed) table.remove(id);
  for (const route of compiled) table.put(route);
}
