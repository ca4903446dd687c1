// Gateway routes of an API. Paths are validated and stored in normal form, so what the gateway
// matches is exactly what an administrator registered.
import crypto from "node:crypto";
import { z } from "zod";
import type { RouteRecord, Storage } from "../storage/index.ts";
import { changedFields } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { requireKnown } from "./known-scopes.ts";
import { sameJson } from "./same-json.ts";

export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
/** A normalized absolute path prefix: no dot segments, no empty segments, no trailing slash (except "/"). */
const pathPrefix = z
  .string()
  .regex(/^\/([A-Za-z0-9\-._~!$&'()*+,;=:@%]+(\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)*)?$/, "must be an absolute path like /orders, without a trailing slash")
  .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "must not contain . or .. segments")
  .refine((p) => !/%(2f|5c|2e)/i.test(p), "must not contain encoded slashes or dots");

/** Scopes a request needs: all of all_of, and at least one of any_of when any_of is not empty. */
const requirement = z.object({ all_of: z.array(scopeName).default([]), any_of: z.array(scopeName).default([]) }).strict();

/**
 * A route. `scopes` maps a method ("GET", ...) or "*" (every other method) to the scopes a request
 * needs; once a route has per-method rules, a method without one (and without "*") is refused with 405.
 */
export const routeInputSchema = z
  .object({
    path_prefix: pathPrefix,
    host: z.string().regex(/^[a-z0-9.-]+$/i, "a host name without port").nullable().default(null),
    methods: z.array(z.enum(ROUTE_METHODS)).default([]),
    upstream: z.url({ protocol: /^https?$/ }),
    rewrite: z.union([z.enum(["strip", "keep"]), pathPrefix]).default("strip"),
    scopes: z.partialRecord(z.union([z.enum(ROUTE_METHODS), z.literal("*")]), requirement).default({}),
    public: z.boolean().default(false),
    timeout_ms: z.number().int().min(100).max(300_000).default(30_000),
    max_body_bytes: z.number().int().min(0).max(1024 ** 3).default(1024 * 1024),
  })
  .strict();

export type RouteInput = z.input<typeof routeInputSchema>;
type ParsedRoute = z.infer<typeof routeInputSchema>;

/** A route as every front end shows it: its settings, plus its id and the API it belongs to. */
export type RouteResource = { id: string; api: string } & ParsedRoute;

export function routeResource(route: RouteRecord): RouteResource {
  return {
    id: route.id,
    api: route.apiIdentifier,
    path_prefix: route.pathPrefix,
    host: route.host,
    methods: route.methods as ParsedRoute["methods"],
    upstream: route.upstream,
    rewrite: route.rewrite,
    scopes: Object.fromEntries(Object.entries(route.scopes).map(([method, r]) => [method, { all_of: r.allOf, any_of: r.anyOf }])),
    public: route.public,
    timeout_ms: route.timeoutMs,
    max_body_bytes: route.maxBodyBytes,
  };
}

/** The input that reproduces a route. */
export function routeInputOf(resource: RouteResource): ParsedRoute {
  const { id, api, ...settings } = resource;
  return settings;
}

export class RouteService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  /** @param api only the routes of this API (which must exist) */
  async list(api?: string): Promise<RouteResource[]> {
    if (api !== undefined && !(await this.storage.apis.find(api))) throw new NotFoundError(`api ${api} not found`);
    return (await this.storage.routes.list(api)).map(routeResource);
  }

  async get(id: string): Promise<RouteResource> {
    return routeResource(await this.require(id));
  }

  /** @throws ConflictError when the API has a route for the same path prefix and host */
  async create(api: string, input: RouteInput): Promise<RouteResource> {
    const spec = parseInput(routeInputSchema, input);
    const same = await this.find(api, spec);
    if (same) throw new ConflictError(`a route for ${spec.path_prefix}${spec.host ? ` on ${spec.host}` : ""} of api ${api} already exists (${same.id})`);
    return (await this.save(api, null, spec)).route;
  }

  /** Changes the fields given, keeping the others. */
  async update(id: string, changes: Partial<RouteInput>, { ifMatch }: { ifMatch?: string } = {}): Promise<RouteResource> {
    const current = routeResource(await this.require(id));
    checkIfMatch(current, ifMatch);
    const spec = parseInput(routeInputSchema, { ...routeInputOf(current), ...changes });
    const same = await this.find(current.api, spec);
    if (same && same.id !== id) throw new ConflictError(`a route for ${spec.path_prefix}${spec.host ? ` on ${spec.host}` : ""} of api ${current.api} already exists (${same.id})`);
    return (await this.save(current.api, current, spec)).route;
  }

  /** Creates the route, or makes the one with the same path prefix and host exactly the input (a declarative file). */
  async apply(api: string, input: RouteInput): Promise<{ route: RouteResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(routeInputSchema, input);
    const same = await this.find(api, spec);
    return this.save(api, same ? routeResource(same) : null, spec);
  }

  async delete(id: string): Promise<void> {
    const route = await this.require(id);
    await this.storage.routes.delete(id);
    await this.storage.revisions.bump("config");
    await this.context.audit.record("delete", "route", id, { api: route.apiIdentifier, path_prefix: route.pathPrefix });
  }

  private find(api: string, spec: ParsedRoute): Promise<RouteRecord | undefined> {
    return this.storage.routes.list(api).then((routes) => routes.find((r) => r.pathPrefix === spec.path_prefix && r.host === spec.host));
  }

  private async save(api: string, current: RouteResource | null, spec: ParsedRoute): Promise<{ route: RouteResource; outcome: "created" | "updated" | "unchanged" }> {
    const owner = await this.storage.apis.find(api);
    if (!owner) throw new NotFoundError(`api ${api} not found`);
    if (spec.public && Object.values(spec.scopes).some((r) => r.all_of.length || r.any_of.length)) {
      throw new ValidationError([{ field: "scopes", message: "a public route requires no scopes" }]);
    }
    // A route may require the API's own scopes and registered ones (say, a scope shared by several APIs).
    const known = new Set([...owner.scopes, ...(await this.storage.scopes.list()).map((s) => s.name)]);
    for (const [method, required] of Object.entries(spec.scopes)) {
      requireKnown(`scopes.${method}.all_of`, required.all_of, known);
      requireKnown(`scopes.${method}.any_of`, required.any_of, known);
    }
    const record: RouteRecord = {
      id: current?.id ?? crypto.randomUUID(),
      apiIdentifier: api,
      pathPrefix: spec.path_prefix,
      host: spec.host,
      methods: spec.methods,
      upstream: spec.upstream,
      rewrite: spec.rewrite,
      scopes: Object.fromEntries(Object.entries(spec.scopes).map(([method, r]) => [method, { allOf: r.all_of, anyOf: r.any_of }])),
      public: spec.public,
      timeoutMs: spec.timeout_ms,
      maxBodyBytes: spec.max_body_bytes,
    };
    const route = routeResource(record);
    if (current && sameJson(current, route)) return { route: current, outcome: "unchanged" };
    await this.storage.routes.save(record);
    await this.storage.revisions.bump("config");
    await this.context.audit.record(current ? "update" : "create", "route", route.id, current ? changedFields(current, route) : { ...route });
    return { route, outcome: current ? "updated" : "created" };
  }

  private async require(id: string): Promise<RouteRecord> {
    const route = await this.storage.routes.find(id);
    if (!route) throw new NotFoundError(`route ${id} not found`);
    return route;
  }
}
