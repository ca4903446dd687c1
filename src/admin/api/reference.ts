// The reference page's content, read from the OpenAPI document (so the page shows exactly what the
// document says): operations by tag with their parameters, request fields and responses, then every
// named schema as a table of fields. views/admin/api-reference.ejs lays it out.
import { ADMIN_API, ADMIN_SCOPES } from "../built-in.ts";
import type { JsonSchema, OpenApiDocument, OpenApiOperation, OpenApiResponse } from "./openapi.ts";

/** Text in pieces: plain, `code`, or a link to a schema. */
export interface Piece {
  text: string;
  code?: boolean;
  /** A schema name, linked to its table. */
  ref?: string;
}

export interface FieldRow {
  name: string;
  depth: number;
  type: Piece[];
  required: boolean;
  notes: Piece[][];
}

export interface ParameterView {
  name: string;
  in: string;
  required: boolean;
  type: Piece[];
  notes: Piece[][];
}

export interface ResponseView {
  status: string;
  description: Piece[];
  type?: Piece[];
  headers: string[];
}

export interface OperationView {
  anchor: string;
  method: string;
  path: string;
  summary: string;
  description: Piece[][];
  access: Piece[];
  parameters: ParameterView[];
  body?: { required: boolean; type: Piece[]; rows: FieldRow[] };
  responses: ResponseView[];
}

export interface ReferenceView {
  [name: string]: unknown;
  title: string;
  server: string;
  tokenUrl: string;
  audience: string;
  scopes: { read: string; write: string };
  documentUrl: string;
  version: string;
  overview: Piece[][];
  tags: Array<{ name: string; anchor: string; description: string; operations: OperationView[] }>;
  refusals: Array<{ status: string; name: string; description: Piece[] }>;
  schemas: Array<{ name: string; anchor: string; description: Piece[][]; rows: FieldRow[] }>;
}

const SCHEMA_REF = "#/components/schemas/";

/** Paragraphs of text with `code` spans, as the document's descriptions write them. */
export function prose(text: string | undefined): Piece[][] {
  if (!text) return [];
  return text.split(/\n\n+/).map((paragraph) => paragraph.split("`").map((part, i) => (i % 2 ? { text: part, code: true } : { text: part })).filter((p) => p.text !== ""));
}

const refName = (ref: string) => ref.slice(ref.lastIndexOf("/") + 1);
const isNull = (s: JsonSchema) => s.type === "null";

function join(parts: Piece[][], separator: string): Piece[] {
  return parts.flatMap((part, i) => (i ? [{ text: separator }, ...part] : part));
}

/** A type as a reader says it: "string (uri)", "array of Client", "integer or null". */
export function typeOf(schema: JsonSchema): Piece[] {
  if (typeof schema.$ref === "string") return [{ text: refName(schema.$ref), ref: refName(schema.$ref) }];
  if (Array.isArray(schema.anyOf)) return join((schema.anyOf as JsonSchema[]).map(typeOf), " or ");
  if ("const" in schema) return [{ text: JSON.stringify(schema.const), code: true }];
  if (Array.isArray(schema.enum)) return join(schema.enum.map((v) => [{ text: JSON.stringify(v), code: true }]), " | ");
  switch (schema.type) {
    case "array":
      return [{ text: "array of " }, ...typeOf((schema.items as JsonSchema) ?? {})];
    case "object": {
      const values = schema.additionalProperties;
      if (schema.properties || !values || typeof values !== "object") return [{ text: "object" }];
      const keys = schema.propertyNames ? typeOf(schema.propertyNames as JsonSchema) : [{ text: "string" }];
      return [{ text: "map of " }, ...keys, { text: " → " }, ...typeOf(values as JsonSchema)];
    }
    case "string":
      return [{ text: schema.format ? `string (${String(schema.format)})` : "string" }];
    case undefined:
      return [{ text: "any" }];
    default:
      return [{ text: String(schema.type) }];
  }
}

function range(low: unknown, high: unknown, unit: string, exclusiveLow?: unknown): string | undefined {
  const from = low !== undefined ? `${low}` : exclusiveLow !== undefined ? `more than ${exclusiveLow}` : undefined;
  if (from !== undefined && high !== undefined) return exclusiveLow !== undefined ? `${from}, at most ${high}${unit}` : `${from} to ${high}${unit}`;
  if (from !== undefined) return low !== undefined ? `at least ${from}${unit}` : `${from}${unit}`;
  if (high !== undefined) return `at most ${high}${unit}`;
  return undefined;
}

/** Constraints, default and description, one note each. */
export function notesOf(schema: JsonSchema): Piece[][] {
  const notes: Piece[][] = [];
  const members = Array.isArray(schema.anyOf) ? (schema.anyOf as JsonSchema[]).filter((s) => !isNull(s) && !s.$ref) : [schema];
  for (const s of members) {
    const length = range(s.minLength, s.maxLength, " characters");
    if (length) notes.push([{ text: length }]);
    const value = range(s.minimum, s.maximum, "", s.exclusiveMinimum);
    if (value) notes.push([{ text: value }]);
    if (s.minItems !== undefined) notes.push([{ text: `at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}` }]);
    if (typeof s.pattern === "string" && !s.format) notes.push([{ text: "matches " }, { text: s.pattern, code: true }]);
  }
  if ("default" in schema) notes.push([{ text: "default " }, { text: JSON.stringify(schema.default), code: true }]);
  if (typeof schema.description === "string") notes.push(...prose(schema.description));
  return notes;
}

/** The object inside a field worth listing the fields of, and how its fields are named. */
function nestedObject(schema: JsonSchema, name: string): { schema: JsonSchema; prefix: string } | undefined {
  if (Array.isArray(schema.anyOf)) {
    const inner = (schema.anyOf as JsonSchema[]).filter((s) => !isNull(s));
    return inner.length === 1 ? nestedObject(inner[0]!, name) : undefined;
  }
  if (schema.type === "object" && schema.properties) return { schema, prefix: `${name}.` };
  if (schema.type === "array" && schema.items) return nestedObject(schema.items as JsonSchema, `${name}[]`);
  const values = schema.additionalProperties;
  if (schema.type === "object" && values && typeof values === "object") return nestedObject(values as JsonSchema, `${name}.{key}`);
  return undefined;
}

/** Every field of an object schema, nested objects' fields indented under theirs. */
export function fieldRows(schema: JsonSchema, prefix = "", depth = 0): FieldRow[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(properties).flatMap(([key, field]) => {
    const name = `${prefix}${key}`;
    const row: FieldRow = { name, depth, type: typeOf(field), required: required.has(key), notes: notesOf(field) };
    const nested = nestedObject(field, name);
    return nested ? [row, ...fieldRows(nested.schema, nested.prefix, depth + 1)] : [row];
  });
}

function accessOf(op: OpenApiOperation): Piece[] {
  if (op["x-access"] === "public") return [{ text: "None: public." }];
  const write = { text: ADMIN_SCOPES.write, code: true };
  if (op["x-access"] === "read") return [{ text: "A token with " }, { text: ADMIN_SCOPES.read, code: true }, { text: " or " }, write, { text: ", or any console session." }];
  return [{ text: "A token with " }, write, { text: ", or a console admin's session with " }, { text: "X-CSRF-Token", code: true }, { text: "." }];
}

function responseOf(status: string, response: OpenApiResponse | { $ref: string }, document: OpenApiDocument): ResponseView {
  if ("$ref" in response) {
    const name = refName(response.$ref);
    const shared = document.components.responses[name]!;
    return { status, description: prose(shared.description.replace(/^\d+: /, ""))[0] ?? [], type: [{ text: "Problem", ref: "Problem" }], headers: Object.keys(shared.headers ?? {}) };
  }
  const [type, media] = Object.entries(response.content ?? {})[0] ?? [];
  return {
    status,
    description: prose(response.description)[0] ?? [],
    ...(media ? { type: media.schema.$ref || type === "application/json" ? typeOf(media.schema) : [{ text: type! }] } : {}),
    headers: Object.keys(response.headers ?? {}),
  };
}

function operationView(path: string, method: string, op: OpenApiOperation, document: OpenApiDocument): OperationView {
  const bodySchema = op.requestBody?.content["application/json"].schema;
  const expanded = bodySchema && (typeof bodySchema.$ref === "string" ? document.components.schemas[refName(bodySchema.$ref)]! : bodySchema);
  return {
    anchor: op.operationId,
    method: method.toUpperCase(),
    path,
    summary: op.summary,
    description: prose(op.description),
    access: accessOf(op),
    parameters: op.parameters.map((p) => ({ name: p.name, in: p.in, required: p.required, type: typeOf(p.schema), notes: [...notesOf(p.schema), ...prose(p.description)] })),
    ...(bodySchema && expanded ? { body: { required: op.requestBody!.required, type: typeOf(bodySchema), rows: fieldRows(expanded) } } : {}),
    responses: Object.entries(op.responses)
      .filter(([status]) => status !== "default")
      .map(([status, response]) => responseOf(status, response, document)),
  };
}

/** The names of the schemas a schema refers to, in order. */
function refsIn(value: unknown, into: string[]): void {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, into));
  else if (value && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string" && inner.startsWith(SCHEMA_REF)) into.push(refName(inner));
      else refsIn(inner, into);
    }
  }
}

export function referenceView(document: OpenApiDocument): ReferenceView {
  const tags = document.tags.map((tag) => ({ name: tag.name, anchor: `tag-${tag.name.toLowerCase()}`, description: tag.description, operations: [] as OperationView[] }));
  const order: string[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      tags.find((t) => t.name === op.tags[0])!.operations.push(operationView(path, method, op, document));
      refsIn({ requestBody: op.requestBody, responses: op.responses }, order);
    }
  }
  // Schemas in the order the operations first use them, each followed by those it refers to.
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || !document.components.schemas[name]) return;
    seen.add(name);
    const inner: string[] = [];
    refsIn(document.components.schemas[name], inner);
    inner.forEach(visit);
  };
  [...order, ...Object.values(document.components.responses).flatMap((r) => (r.content ? [refName(Object.values(r.content)[0]!.schema.$ref as string)] : []))].forEach(visit);
  return {
    title: "Admin API reference",
    server: document.servers[0]!.url,
    tokenUrl: (document.components.securitySchemes.gatehouseToken as { flows: { clientCredentials: { tokenUrl: string } } }).flows.clientCredentials.tokenUrl,
    audience: ADMIN_API,
    scopes: ADMIN_SCOPES,
    documentUrl: "/admin/api/openapi.json",
    version: document.info.version,
    overview: prose(document.info.description),
    tags: tags.filter((t) => t.operations.length),
    refusals: Object.entries(document.components.responses).map(([name, r]) => {
      const [, status = "5xx", description = r.description] = /^(\d+): (.*)$/s.exec(r.description) ?? [];
      return { status, name, description: prose(description)[0] ?? [] };
    }),
    schemas: [...seen].map((name) => {
      const schema = document.components.schemas[name]!;
      return { name, anchor: `schema-${name}`, description: prose(schema.description as string | undefined), rows: fieldRows(schema) };
    }),
  };
}
