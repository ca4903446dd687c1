// Builds the in-memory route table from storage: the only time routing touches the database, and the
// only time policies are read and compiled (each route gets its handlers per stage, policies/index.ts).
import type { Storage } from "../../storage/index.ts";
import { compilePolicies, type CompileContext } from "../policies/index.ts";
import type { CompiledRoute } from "../types.ts";
import { RouteTable } from "./route-table.ts";

/**
 * Reads every API and route and compiles them with their policies; throws when a stored route cannot be
 * matched (see canonicalRoute) or a stored policy does not validate.
 */
export async function loadRouteTable(storage: Storage, policies: CompileContext): Promise<RouteTable> {
  // Routes before APIs: deleting an API deletes its routes, so an API missing from the second read
  // means the route read first is gone too, and it is left out rather than half-loaded.
  const routes = await storage.routes.list();
  policies.rateLimits.release?.();
  const apis = new Map((await storage.apis.list()).map((api) => [api.identifier, api]));
  const compiled: CompiledRoute[] = [];
  for (const route of routes) {
    const api = apis.get(route.apiIdentifier);
    if (api) compiled.push({ route, api, policies: compilePolicies(api, route, policies) });
  }
  return new RouteTable(compiled);
}
