// Brings a stored route into the form requests are matched in. The route service accepts prefixes
// such as "/%7Eadmin" or "/caf%c3%a9", but a request path is normalized to "/~admin" or
// "/caf%C3%A9"; matching the stored form would never succeed and let such requests fall through to
// a broader (perhaps public) route.
import type { CompiledRoute } from "../types.ts";
import { normalizePath } from "./normalize-path.ts";

function canonicalPath(routeId: string, field: string, value: string): string {
  let path: string;
  try {
    path = normalizePath(value);
  } catch (error) {
    throw new Error(`route ${routeId}: ${field} ${JSON.stringify(value)} is not a valid path (${(error as Error).message})`, { cause: error });
  }
  // Prefixes match on segment boundaries, so "/orders/" would only ever mean "/orders".
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * Returns the route with its path prefix and replacement path (if any) in normal form: the same
 * object when they already are, a copy otherwise. Throws (naming the route) when either cannot be
 * a path, so a bad route fails loading the table instead of never matching.
 */
export function canonicalRoute(compiled: CompiledRoute): CompiledRoute {
  const { route } = compiled;
  const pathPrefix = canonicalPath(route.id, "path prefix", route.pathPrefix);
  let rewrite = route.rewrite;
  if (rewrite !== "strip" && rewrite !== "keep") rewrite = canonicalPath(route.id, "rewrite", rewrite);
  if (pathPrefix === route.pathPrefix && rewrite === route.rewrite) return compiled;
  return { ...compiled, route: { ...route, pathPrefix, rewrite } };
}
