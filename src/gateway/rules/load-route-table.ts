// Builds the in-memory route table from storage: the only time routing touches the database.
import type { Storage } from "../../storage/index.ts";
import type { CompiledRoute } from "../types.ts";
import { RouteTable } from "./route-table.ts";

/** Reads every API and route and compiles them; throws when a stored route cannot be matched (see canonicalRoute). */
export async function loadRouteTable(storage: Storage): Promise<RouteTable> {
  // Routes before APIs: deleting an API deletes its routes, so an API missing from the second read
  // means the route read first is gone too, and it is left out rather than half-loaded.
  const routes = await storage.routes.list();
  const apis = new Map((await storage.apis.list()).map((api) => [api.identifier, api]));
  const compiled: CompiledRoute[] = [];
  for (const route of routes) {
    const api = apis.get(route.apiIdentifier);
    if (api) compiled.push({ route, api });
  }
  return new RouteTable(compiled);
}
