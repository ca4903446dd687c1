// One admin API operation: method, path, who may call it, the schemas of its path parameters, query,
// body and response, and its handler. The list of operations (operations.ts) is the one source of both
// the Koa routes (index.ts) and the OpenAPI document (openapi.ts), so the two cannot drift apart.
import { z } from "zod";
import { etagOf } from "../../services/etag.ts";
import type { Services } from "../../services/index.ts";
import type { Page } from "../../services/paging.ts";

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** read: scope admin:read (or admin:write) or any console session; write: admin:write or a console admin; public: anyone. */
export type Access = "read" | "write" | "public";

export const TAGS = {
  Clients: "OAuth clients: their settings, secrets and tokens.",
  Scopes: "Scopes clients may request beyond OpenID Connect's standard ones.",
  APIs: "APIs (resource servers): the audience of access tokens and how the gateway protects them.",
  Routes: "Gateway routes of an API.",
  Policies: "Gateway policies (CORS, rate limits, claim headers, token forwarding, outbound OAuth): attached to an API or a route in its `policies`.",
  Users: "People who sign in at the authorization server (and, with role admin or viewer, at the console).",
  Issuers: "Trusted assertion issuers: outside identity providers whose signed JWTs (RFC 7523) or SAML 2.0 assertions (RFC 7522) clients may trade for tokens.",
  Keys: "Signing keys: one active, one next (already published), retired ones until their tokens expire.",
  Audit: "Every change made through the services, by whom.",
  Documentation: "This API's own description.",
} as const;
export type Tag = keyof typeof TAGS;

/** What a handler answers, with the operation's success status. */
export interface Reply {
  body?: unknown;
  /** Content type, when the body is not JSON. */
  type?: string;
  etag?: string;
  /** A path under /admin/api (e.g. /v1/clients/abc); sent as an absolute URL under ISSUER. */
  location?: string;
}

export interface Call<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The If-Match header, for operations that honour it. */
  ifMatch: string | undefined;
  /** Services recording changes under the caller (not available to public operations). */
  services: Services;
}

export interface Success {
  status: number;
  description: string;
  /** The JSON body; none for 204. */
  schema?: z.ZodType;
  /** A body that is not JSON (the reference page). */
  type?: string;
  /** Headers the answer carries. */
  headers?: Array<"ETag" | "Location">;
}

type None = z.ZodObject<{}, z.core.$strict>;

export interface OperationSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** OpenAPI path template under /admin/api, e.g. /v1/clients/{client_id}. */
  path: string;
  /** operationId: unique, camelCase. */
  id: string;
  tag: Tag;
  summary: string;
  description?: string;
  access: Access;
  params?: P;
  query?: Q;
  /** A JSON object body (none: the operation reads no body). */
  body?: B;
  /** Honours If-Match (412 when stale). */
  conditional?: boolean;
  /** Can refuse with 409 (an entity with that identity exists, a built-in one would be deleted, or a concurrent change landed first). */
  conflicts?: boolean;
  success: Success;
  handle(call: Call<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
}

export type Operation = OperationSpec<z.ZodType, z.ZodType, z.ZodType>;

/** Declares an operation, typing its handler's input from its schemas. */
export function operation<P extends z.ZodType = None, Q extends z.ZodType = None, B extends z.ZodType = None>(spec: OperationSpec<P, Q, B>): Operation {
  return spec as unknown as Operation;
}

/**
 * Schemas the OpenAPI document names under components.schemas: request bodies (described as they are
 * sent, defaults optional) and responses (described as they are answered, every field present).
 */
export const requestSchemas = z.registry<{ id: string; description?: string }>();
export const responseSchemas = z.registry<{ id: string; description?: string }>();

export function requestSchema<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  requestSchemas.add(schema, { id, ...(description ? { description } : {}) });
  return schema;
}

export function responseSchema<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  responseSchemas.add(schema, { id, ...(description ? { description } : {}) });
  return schema;
}

/**
 * True when a response schema has exactly the fields of the resource type the services return, so a
 * field added to a resource fails the type check until its schema (and so the document) has it too:
 * `true satisfies SameFields<typeof schema, Resource>;`
 */
export type SameFields<Schema extends z.ZodType, Resource> = [Exclude<keyof z.output<Schema>, keyof Resource>, Exclude<keyof Resource, keyof z.output<Schema>>] extends [never, never] ? true : never;

/** An instant as the resources write it (UTC, ISO 8601). */
export const instant = z.iso.datetime();

/** A page of a list: `items` from `offset`, at most `limit`, of `total`. */
export function pageSchema<T extends z.ZodType>(id: string, item: T) {
  return responseSchema(
    id,
    z.object({ items: z.array(item), total: z.number().int().min(0), offset: z.number().int().min(0), limit: z.number().int().min(1) }).strict(),
    `One page of the list: at most limit items from offset, of total.`,
  );
}

/**
 * Pages a list the services return whole (scopes, APIs, routes, keys): every list of the API answers in
 * pages of the same shape.
 * @param text the values `search` is looked for in (any case)
 */
export function pageOf<T>(items: T[], query: { search?: string; offset: number; limit: number }, text: (item: T) => Array<string | null>): Page<T> {
  const needle = query.search?.toLowerCase();
  const found = needle ? items.filter((item) => text(item).some((value) => value?.toLowerCase().includes(needle))) : items;
  return { items: found.slice(query.offset, query.offset + query.limit), total: found.length, offset: query.offset, limit: query.limit };
}

/** A single resource with its entity tag. */
export function tagged(resource: object, more: Omit<Reply, "body" | "etag"> = {}): Reply {
  return { body: resource, etag: etagOf(resource), ...more };
}

/** Path segments are percent-encoded (API identifiers are URLs). */
export const segment = encodeURIComponent;
