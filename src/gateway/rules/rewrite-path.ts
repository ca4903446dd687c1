// Turns the checked request path into the path the upstream receives. Only the route's prefix is
// replaced; the rest of the path is passed on exactly as it was matched.
import type { RouteRecord } from "../../storage/index.ts";

/**
 * The path for the upstream, before its base path is joined: "strip" removes the prefix, "keep"
 * passes the path on, and a replacement path takes the prefix's place. `route` must be the one
 * RouteTable.match() returned for `path` (prefix and replacement in normal form).
 */
export function upstreamPath(route: RouteRecord, path: string): string {
  if (route.rewrite === "keep") return path;
  const prefix = route.pathPrefix;
  if (!path.startsWith(prefix)) throw new Error(`path ${path} does not start with the prefix ${prefix} of route ${route.id}`);
  // What follows the prefix: "" or "/…" (prefixes end on a segment boundary).
  const rest = prefix === "/" ? path : path.slice(prefix.length);
  const replacement = route.rewrite === "strip" || route.rewrite === "/" ? "" : route.rewrite;
  return replacement + rest || "/";
}

/**
 * Splits an upstream URL into its origin and the path to request there: the upstream's own base
 * path followed by `path`, without a double slash. "/" asks for the base path itself, as
 * configured ("http://h/base" → "/base", "http://h/base/" → "/base/"). The upstream URL's query and
 * fragment are not used.
 */
export function joinUpstream(upstream: string, path: string): { origin: string; path: string } {
  const url = new URL(upstream);
  const base = url.pathname;
  if (path === "/") return { origin: url.origin, path: base };
  return { origin: url.origin, path: (base.endsWith("/") ? base.slice(0, -1) : base) + path };
}
