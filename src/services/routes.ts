// Gateway routes of an API. Paths are validated and stored in normal form, so what the gateway
// matches is exactly what an administrator registered.
import crypto from "node:crypto";
import { z } from "zod";
import { probePathOf } from "../operations/health.ts";
import type { RouteRecord, Storage } from "../storage/index.ts";
import { changedFields } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { requireKnown } from "./known-scopes.ts";
import { flatPolicies, sealedChanges } from "./apis.ts";
import {
  limitName,
  mergePolicyChanges,
  policiesInputOf,
  policiesInputSchema,
  showPolicies,
  storePolicies,
  type PoliciesInput,
  type PoliciesResource,
  type PolicyChanges,
  type PolicyId,
} from "./policies.ts";
import { sameJson } from "./same-json.ts";

export const ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
/** A normalized absolute path prefix: no dot segments, no empty segments, no trailing slash (except "/"). */
const pathPrefix = z
  .string()
  .regex(/^\/([A-Za-z0-9\-._~!$&'()*+,;=:@%]+(\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)*)?$/, "must be an absolute path like /orders, without a trailing slash")
  .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "must not contain . or .. segments")
  .refine((p) => !/%(2f|5c|2e)/i.test(p), "must not contain encoded slashes or dots");

/** The gateway's probe path a path prefix is or lies under (percent-encoded spellings included), if any. */
function reservedPathOf(prefix: string): string | undefined {
  let decoded = prefix;
  try {
    decoded = decodeURIComponent(prefix);
  } catch {
    // a malformed escape is refused elsewhere; compare it as written
  }
  return probePathOf(decoded);
}

/** Scopes a request needs: all of all_of, and at least one of any_of when any_of is not empty. */
const requirement = z.object({ all_of: z.array(scopeName).default([]), any_of: z.array(scopeName).default([]) }).strict();

/**
 * A route. `scopes` maps a method ("GET", ...) or "*" (every other method) to the scopes a request
 * needs; once a route has per-method rules, a method without one (and without "*") is refused with 405.
 */
export const routeInputSchema = z
  .object({
    path_prefix: pathPrefix.superRefine((prefix, ctx) => {
      const reserved = reservedPathOf(prefix);
      if (reserved) ctx.addIssue({ code: "custom", message: `${prefix} is reserved: the gateway answers ${reserved} (its ${reserved === "/healthz" ? "liveness" : "readiness"} probe) and everything under it itself, so no route can serve it` });
    }),
    host: z.string().regex(/^[a-z0-9.-]+$/i, "a host name without port").nullable().default(null),
    methods: z.array(z.enum(ROUTE_METHODS)).default([]),
    upstream: z.url({ protocol: /^https?$/ }),
    rewrite: z.union([z.enum(["strip", "keep"]), pathPrefix]).default("strip"),
    scopes: z.partialRecord(z.union([z.enum(ROUTE_METHODS), z.literal("*")]), requirement).default({}),
    public: z.boolean().default(false),
    timeout_ms: z.number().int().min(100).max(300_000).default(30_000),
    max_body_bytes: z.number().int().min(0).max(1024 ** 3).default(1024 * 1024),
    policies: policiesInputSchema("route"),
  })
  .strict();

export type RouteInput = z.input<typeof routeInputSchema>;
type ParsedRoute = z.infer<typeof routeInputSchema>;

/** A route as every front end shows it: its settings and policies, plus its id and the API it belongs to. */
export type RouteResource = { id: string; api: string } & Omit<ParsedRoute, "policies"> & { policies: PoliciesResource };

/** A change to a route: the fields given; `policies` merged policy by policy. */
export type RouteChanges = Partial<Omit<RouteInput, "policies">> & { policies?: PolicyChanges };

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
    policies: showPolicies(route.policies, "route"),
  };
}

/** The input that reproduces a route (a policy's write-only secret left out, so the stored one is kept). */
export function routeInputOf(resource: RouteResource): Omit<ParsedRoute, "policies"> & { policies: PoliciesInput } {
  const { id, api, policies, ...settings } = resource;
  return { ...settings, policies: policiesInputOf(policies) };
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

  /** Changes the fields given, keeping the others; a policy given is merged into the attached one's settings (or attached), null detaches it. */
  async update(id: string, changes: RouteChanges, { ifMatch }: { ifMatch?: string } = {}): Promise<RouteResource> {
    const stored = await this.require(id);
    const current = routeResource(stored);
    checkIfMatch(current, ifMatch);
    const { policies, ...fields } = changes;
    const base = routeInputOf(current);
    const spec = parseInput(routeInputSchema, { ...base, ...fields, policies: mergePolicyChanges(base.policies, policies ?? {}) });
    const same = await this.find(current.api, spec);
    if (same && same.id !== id) throw new ConflictError(`a route for ${spec.path_prefix}${spec.host ? ` on ${spec.host}` : ""} of api ${current.api} already exists (${same.id})`);
    return (await this.save(current.api, stored, spec)).route;
  }

  /** Attaches a policy to the route, or replaces its settings: exactly the ones given, the defaults for the others (a write-only secret left out is kept). */
  async attachPolicy(id: string, policy: PolicyId, config: unknown): Promise<RouteResource> {
    const stored = await this.require(id);
    const base = routeInputOf(routeResource(stored));
    return (await this.save(stored.apiIdentifier, stored, parseInput(routeInputSchema, { ...base, policies: { ...base.policies, [policy]: config } }))).route;
  }

  /** @throws NotFoundError when the policy is not attached to the route */
  async detachPolicy(id: string, policy: PolicyId): Promise<RouteResource> {
    const stored = await this.require(id);
    const base = routeInputOf(routeResource(stored));
    if (!(policy in base.policies)) throw new NotFoundError(`policy ${policy} is not attached to route ${id}`);
    const { [policy]: _detached, ...rest } = base.policies;
    return (await this.save(stored.apiIdentifier, stored, parseInput(routeInputSchema, { ...base, policies: rest }))).route;
  }

  /**
   * Creates the route, or brings the one with the same path prefix and host in line with the input (a
   * declarative file): the fields given are set, the fields left out keep their stored values; each policy
   * named in `policies` is set to exactly the settings given, the policies not named stay attached.
   */
  async apply(api: string, input: RouteInput): Promise<{ route: RouteResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(routeInputSchema, input);
    const same = await this.find(api, spec);
    if (!same) return this.save(api, null, spec);
    const { policies, ...fields } = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as RouteInput;
    const base = routeInputOf(routeResource(same));
    const named = Object.fromEntries(Object.entries(policies ?? {}).filter(([, config]) => config !== undefined));
    return this.save(api, same, parseInput(routeInputSchema, { ...base, ...fields, policies: { ...base.policies, ...named } }));
  }

  async delete(id: string): Promise<void> {
    const route = await this.require(id);
    await this.storage.routes.delete(id);
    await this.context.audit.record("delete", "route", id, { api: route.apiIdentifier, path_prefix: route.pathPrefix });
  }

  private find(api: string, spec: ParsedRoute): Promise<RouteRecord | undefined> {
    return this.storage.routes.list(api).then((routes) => routes.find((r) => r.pathPrefix === spec.path_prefix && r.host === spec.host));
  }

  private async save(api: string, stored: RouteRecord | null, spec: ParsedRoute): Promise<{ route: RouteResource; outcome: "created" | "updated" | "unchanged" }> {
    const owner = await this.storage.apis.find(api);
    if (!owner) throw new NotFoundError(`api ${api} not found`);
    if (spec.public && Object.values(spec.scopes).some((r) => r.all_of.length || r.any_of.length)) {
      throw new ValidationError([{ field: "scopes", message: "a public route requires no scopes" }]);
    }
    if (spec.public) {
      spec.policies.rate_limit?.limits.forEach((limit, i) => {
        if (limit.by !== "address") throw new ValidationError([{ field: `policies.rate_limit.limits[${i}].by`, message: `a public route has no token to count by ${limit.by}: limit ${limitName(limit)} by address` }]);
      });
    }
    // A route may require the API's own scopes and registered ones (say, a scope shared by several APIs).
    const known = new Set([...owner.scopes, ...(await this.storage.scopes.list()).map((s) => s.name)]);
    for (const [method, required] of Object.entries(spec.scopes)) {
      requireKnown(`scopes.${method}.all_of`, required.all_of, known);
      requireKnown(`scopes.${method}.any_of`, required.any_of, known);
    }
    const { policies, ...settings } = spec;
    const record: RouteRecord = {
      id: stored?.id ?? crypto.randomUUID(),
      apiIdentifier: api,
      pathPrefix: settings.path_prefix,
      host: settings.host,
      methods: settings.methods,
      upstream: settings.upstream,
      rewrite: settings.rewrite,
      scopes: Object.fromEntries(Object.entries(settings.scopes).map(([method, r]) => [method, { allOf: r.all_of, anyOf: r.any_of }])),
      public: settings.public,
      timeoutMs: settings.timeout_ms,
      maxBodyBytes: settings.max_body_bytes,
      policies: storePolicies(policies, stored?.policies ?? {}, this.context.secret),
    };
    const route = routeResource(record);
    if (stored && sameJson(stored, record)) return { route, outcome: "unchanged" };
    await this.storage.routes.save(record);
    if (stored) {
      const changes: Record<string, unknown> = changedFields(flatPolicies(routeResourceInput(routeResource(stored))), flatPolicies(routeResourceInput(route)));
      for (const id of sealedChanges(stored.policies, record.policies)) changes[`policies.${id}.client_secret`] = "changed";
      await this.context.audit.record("update", "route", route.id, changes);
    } else {
      await this.context.audit.record("create", "route", route.id, { ...route, policies: policiesInputOf(route.policies) });
    }
    return { route, outcome: stored ? "updated" : "created" };
  }

  private async require(id: string): Promise<RouteRecord> {
    const route = await this.storage.routes.find(id);
    if (!route) throw new NotFoundError(`route ${id} not found`);
    return route;
  }
}

/** A route's id, API and input, for the audit log. */
function routeResourceInput(route: RouteResource) {
  return { id: route.id, api: route.api, ...routeInputOf(route) };
}
