// The one authorizer: the route's scope requirement for the request's method (or its "*" entry).
import type { RouteRecord } from "../../storage/index.ts";
import { InsufficientScope } from "../errors.ts";
import type { Principal } from "../types.ts";

export function requiredScopes(route: RouteRecord, method: string): { allOf: string[]; anyOf: string[] } {
  return route.scopes[method] ?? (method === "HEAD" ? route.scopes.GET : undefined) ?? route.scopes["*"] ?? { allOf: [], anyOf: [] };
}

export function authorizeScopes(route: RouteRecord, method: string, principal: Principal): void {
  const { allOf, anyOf } = requiredScopes(route, method);
  const hasAll = allOf.every((scope) => principal.scopes.has(scope));
  const hasOne = anyOf.length === 0 || anyOf.some((scope) => principal.scopes.has(scope));
  if (!hasAll || !hasOne) throw new InsufficientScope([...allOf, ...(hasOne ? [] : anyOf)]);
}
