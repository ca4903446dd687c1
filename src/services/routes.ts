// Gateway routes of an API. Paths are validated and stored in normal form, so what the gateway
// matches is exactly what an administrator registered.
import crypto from "node:crypto";
import { z } from "zod";
import type { Storage, RouteRecord } from "../storage/index.ts";
import { NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { requireKnown } from "./known-scopes.ts";
import { sameJson } from "./same-json.ts";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
/** A normalized absolute path prefix: no dot segments, no empty segments, no trailing slash (except "/"). */
const pathPrefix = z
  .string()
  .regex(/^\/([A-Za-z0-9\-._~!$&'()*+,;=:@%]+(\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)*)?$/, "must be an absolute path like /orders, without a trailing slash")
  .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "must not contain . or .. segments")
  .refine((p) => !/%(2f|5c|2e)/i.test(p), "must not contain encoded slashes or dots");

const requirement = z.object({ allOf: z.array(scopeName).default([]), anyOf: z.array(scopeName).default([]) }).strict();

export const routeSchema = z
  .object({
    apiIdentifier: z.string().min(1),
    pathPrefix,
    host: z.string().regex(/^[a-z0-9.-]+$/i, "a host name without port").nullable().default(null),
    methods: z.array(z.enum(METHODS)).default([]),
    upstream: z.url({ protocol: /^https?$/ }),
    rewrite: z.union([z.enum(["strip", "keep"]), pathPrefix]).default("strip"),
    scopes: z
      .partialRecord(z.union([z.enum(METHODS), z.literal("*")]), requirement)
      .default({}),
    public: z.boolean().default(false),
    timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
    maxBodyBytes: z.number().int().min(0).max(1024 ** 3).default(1024 * 1024),
  })
  .strict();

export type RouteSpec = z.input<typeof routeSchema>;

export class RouteService {
  private readonly storage: Storage;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  list(apiIdentifier?: string): Promise<RouteRecord[]> {
    return this.storage.routes.list(apiIdentifier);
  }

  /** Creates a route, or updates the one with the same API, path prefix and host (so `apply` is idempotent). */
  async upsert(input: RouteSpec): Promise<{ route: RouteRecord; changed: boolean }> {
    const spec = parseInput(routeSchema, input) as Omit<RouteRecord, "id">;
    const api = await this.storage.apis.find(spec.apiIdentifier);
    if (!api) throw new NotFoundError(`api ${spec.apiIdentifier} not found`);
    if (spec.public && Object.values(spec.scopes).some((r) => r.allOf.length || r.anyOf.length)) {
      throw new ValidationError("scopes: a public route requires no scopes");
    }
    // A route may require the API's own scopes and registered ones (say, a scope shared by several APIs).
    const known = new Set([...api.scopes, ...(await this.storage.scopes.list()).map((s) => s.name)]);
    for (const [method, requirement] of Object.entries(spec.scopes)) {
      requireKnown(`scopes.${method}.allOf`, requirement.allOf, known);
      requireKnown(`scopes.${method}.anyOf`, requirement.anyOf, known);
    }
    const existing = (await this.storage.routes.list(spec.apiIdentifier)).find((r) => r.pathPrefix === spec.pathPrefix && r.host === spec.host);
    const route: RouteRecord = { id: existing?.id ?? crypto.randomUUID(), ...spec };
    if (existing && sameJson(existing, route)) return { route: existing, changed: false };
    const saved = await this.storage.routes.save(route);
    await this.storage.revisions.bump("config");
    return { route: saved, changed: true };
  }

  async delete(id: string): Promise<void> {
    if (!(await this.storage.routes.delete(id))) throw new NotFoundError(`route ${id} not found`);
    await this.storage.revisions.bump("config");
  }
}
