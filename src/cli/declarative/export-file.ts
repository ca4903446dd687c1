// The current configuration as a declarative file. Never secrets or hashes: applying the export keeps
// every client's secret, every API's outbound client secret and every user's password as they are, so
// export then apply changes nothing.
import YAML from "yaml";
import type { ApiView } from "../../services/apis.ts";
import type { Services } from "../../services/index.ts";
import type { RouteRecord } from "../../storage/index.ts";
import { apiToEntry, clientToEntry, routeToEntry, type DeclarativeFile } from "./file-schema.ts";

/** Unset (null) fields are left out: the file's defaults give them back. */
function withoutNulls<T extends object>(entry: T): Partial<T> {
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== null)) as Partial<T>;
}

/** An API with its routes nested, listed only when it has some. */
function apiWithRoutes(view: ApiView, routes: RouteRecord[]): object {
  const { outbound_oauth, ...entry } = apiToEntry(view);
  const own = routes.filter((r) => r.apiIdentifier === view.identifier).map((r) => withoutNulls(routeToEntry(r)));
  return withoutNulls({ ...entry, outbound_oauth: outbound_oauth && withoutNulls(outbound_oauth), ...(own.length ? { routes: own } : {}) });
}

export async function exportFile(services: Services): Promise<Record<keyof DeclarativeFile, object[]>> {
  const routes = await services.routes.list();
  return {
    scopes: await services.scopes.list(),
    apis: (await services.apis.list()).map((a) => apiWithRoutes(a, routes)),
    clients: (await services.clients.list()).map((c) => withoutNulls(clientToEntry(c))),
    users: (await services.users.list()).map((u) =>
      withoutNulls({ username: u.username, email: u.email, claims: u.claims, roles: u.roles, enabled: u.enabled }),
    ),
  };
}

export function formatFile(file: object, format: "yaml" | "json"): string {
  return format === "json" ? JSON.stringify(file, null, 2) + "\n" : YAML.stringify(file);
}
