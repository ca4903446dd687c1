// The whole routing table in memory, indexed so that matching a request costs a few map lookups
// (one per path segment, whatever the number of routes) and no database query. A change to one route
// or API replaces its entries in place (put/remove), so its cost does not grow with the table either.
import type { RouteRecord } from "../../storage/index.ts";
import type { CompiledRoute } from "../types.ts";
import { canonicalRoute } from "./canonical-route.ts";

interface Candidate {
  compiled: CompiledRoute;
  /** null: any method. */
  methods: ReadonlySet<string> | null;
}

/** The routes registered for one host (or for any host) at one path prefix. */
interface PrefixGroup {
  /** In the order the routes were given, so the first route accepting the method wins. */
  candidates: Candidate[];
  /** Sorted union of the methods the restricted candidates accept, for a 405's Allow header. */
  allow: string[];
}

type PrefixIndex = Map<string, PrefixGroup>;

const SLASH = 0x2f;

/** The Host header's name as routes store it: lower case, without port or a trailing dot. */
function hostName(host: string): string {
  let end = host.length;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(":");
    if (colon !== -1) end = colon;
  }
  // "api.example.com." names the same host; without this it would skip that host's routes.
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  return host.slice(0, end).toLowerCase();
}

/** The methods given, with HEAD where GET is: a HEAD is a GET without the body (RFC 9110 §9.3.2). */
function withHead(methods: readonly string[]): Set<string> {
  const set = new Set(methods);
  if (set.has("GET")) set.add("HEAD");
  return set;
}

/**
 * The methods a route accepts, or null for any. Its `methods` restrict it, and so do its scope
 * rules: once a route states rules for some methods, a method with no rule of its own is refused
 * (405) instead of passing with any valid token, unless the route has a default rule ("*").
 * OPTIONS is not implied by any rule: a route that serves it states a rule for it, or a default.
 */
function methodSet(route: RouteRecord): ReadonlySet<string> | null {
  const declared = route.methods.length === 0 ? null : withHead(route.methods);
  const rules = Object.keys(route.scopes);
  const ruled = rules.length === 0 || rules.includes("*") ? null : withHead(rules);
  if (!declared || !ruled) return declared ?? ruled;
  return new Set([...declared].filter((method) => ruled.has(method)));
}

/** Candidates at one prefix come in this order: by API identifier, then route id (as storage lists them). */
function before(a: CompiledRoute, b: CompiledRoute): boolean {
  const { apiIdentifier: x, id: i } = a.route;
  const { apiIdentifier: y, id: j } = b.route;
  return x < y || (x === y && i < j);
}

function allowOf(candidates: readonly Candidate[]): string[] {
  return [...new Set(candidates.flatMap((c) => (c.methods ? [...c.methods] : [])))].sort();
}

function addTo(index: PrefixIndex, prefix: string, candidate: Candidate): void {
  let group = index.get(prefix);
  if (!group) {
    group = { candidates: [], allow: [] };
    index.set(prefix, group);
  }
  const { candidates } = group;
  let at = candidates.length;
  while (at > 0 && before(candidate.compiled, candidates[at - 1]!.compiled)) at--;
  candidates.splice(at, 0, candidate);
  if (candidate.methods) group.allow = allowOf(candidates);
}

/** The group at the longest prefix of the path, cut on segment boundaries; "/" matches every path. */
function longestPrefix(index: PrefixIndex, path: string): PrefixGroup | undefined {
  let end = path.length;
  // Prefixes never end in "/": "/orders/" is matched by "/orders".
  if (end > 1 && path.charCodeAt(end - 1) === SLASH) end--;
  while (end > 1) {
    const group = index.get(end === path.length ? path : path.slice(0, end));
    if (group) return group;
    end = path.lastIndexOf("/", end - 1);
  }
  return index.get("/");
}

/**
 * Matches requests to routes. Paths given to match() must be normalizePath() output. A route with
 * a host matches only that host, and the host's routes win over routes for any host; then the
 * longest prefix wins. The routes at the winning prefix own the path: when none of them accepts
 * the method, the request does not fall through to a shorter prefix, so `POST /admin` cannot
 * reach a catch-all "/" just because the "/admin" route only allows GET.
 */
export class RouteTable {
  private readonly byHost = new Map<string, PrefixIndex>();
  private readonly anyHost: PrefixIndex = new Map();
  /** Where each route is, by route id: its host's index (or anyHost) and its prefix. */
  private readonly located = new Map<string, { index: PrefixIndex; prefix: string; host: string | null; api: string }>();
  /** Each API's route ids. */
  private readonly byApi = new Map<string, Set<string>>();

  /** Throws when a route's path prefix or rewrite is not a path (see canonicalRoute). */
  constructor(routes: CompiledRoute[]) {
    for (const given of routes) this.add(canonicalRoute(given));
  }

  get size(): number {
    return this.located.size;
  }

  /**
   * Adds a route, or replaces the route with its id. Throws, leaving the table as it was, when its path
   * prefix or rewrite is not a path (see canonicalRoute).
   */
  put(given: CompiledRoute): void {
    const compiled = canonicalRoute(given);
    this.remove(compiled.route.id);
    this.add(compiled);
  }

  /** Takes the route with this id out (nothing when there is none). */
  remove(routeId: string): void {
    const where = this.located.get(routeId);
    if (!where) return;
    this.located.delete(routeId);
    const ofApi = this.byApi.get(where.api)!;
    ofApi.delete(routeId);
    if (ofApi.size === 0) this.byApi.delete(where.api);
    const group = where.index.get(where.prefix)!;
    group.candidates = group.candidates.filter((c) => c.compiled.route.id !== routeId);
    group.allow = allowOf(group.candidates);
    if (group.candidates.length > 0) return;
    where.index.delete(where.prefix);
    if (where.host !== null && where.index.size === 0) this.byHost.delete(where.host);
  }

  /** The ids of the routes of one API. */
  routesOf(apiIdentifier: string): string[] {
    return [...(this.byApi.get(apiIdentifier) ?? [])];
  }

  private add(compiled: CompiledRoute): void {
    const { route } = compiled;
    let index = this.anyHost;
    let host: string | null = null;
    if (route.host) {
      host = hostName(route.host);
      index = this.byHost.get(host) ?? new Map();
      this.byHost.set(host, index);
    }
    addTo(index, route.pathPrefix, { compiled, methods: methodSet(route) });
    this.located.set(route.id, { index, prefix: route.pathPrefix, host, api: route.apiIdentifier });
    const ofApi = this.byApi.get(route.apiIdentifier) ?? new Set();
    ofApi.add(route.id);
    this.byApi.set(route.apiIdentifier, ofApi);
  }

  /**
   * The route for this request, or undefined (404, or 405 when allowedMethods() is not empty).
   * The route comes back with its path prefix and rewrite in normal form, ready for upstreamPath().
   */
  match(host: string, method: string, path: string): CompiledRoute | undefined {
    const group = this.owner(host, path);
    if (!group) return undefined;
    for (const candidate of group.candidates) {
      if (!candidate.methods || candidate.methods.has(method)) return candidate.compiled;
    }
    return undefined;
  }

  /**
   * After match() found nothing: the methods the routes owning this path accept, for the Allow
   * header of a 405; empty when no route owns the path (404).
   */
  allowedMethods(host: string, path: string): readonly string[] {
    return this.owner(host, path)?.allow ?? [];
  }

  private owner(host: string, path: string): PrefixGroup | undefined {
    if (this.byHost.size > 0) {
      const index = this.byHost.get(hostName(host));
      const group = index && longestPrefix(index, path);
      if (group) return group;
    }
    return longestPrefix(this.anyHost, path);
  }
}
