// The OpenAPI 3.1 document of the admin API, generated from the operations (operation.ts) and the very zod
// schemas that check their requests: JSON Schema 2020-12 from zod's own converter, request bodies as
// they may be sent, responses as they are answered.
import { z } from "zod";
import { ADMIN_API, ADMIN_SCOPES } from "../built-in.ts";
import { SESSION_COOKIE } from "../sessions.ts";
import { TAGS, requestSchemas, responseSchema, responseSchemas, type Operation } from "./operation.ts";
import { problemSchema } from "./problems.ts";

export type JsonSchema = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, OpenApiResponse>;
    headers: Record<string, { description: string; schema: JsonSchema }>;
    securitySchemes: Record<string, Record<string, unknown>>;
  };
}

export interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface OpenApiResponse {
  description: string;
  headers?: Record<string, { $ref: string }>;
  content?: Record<string, { schema: JsonSchema }>;
}

export interface OpenApiOperation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  security: Array<Record<string, string[]>>;
  "x-access": Operation["access"];
  parameters: OpenApiParameter[];
  requestBody?: { required: boolean; content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, OpenApiResponse | { $ref: string }>;
}

responseSchema("Problem", problemSchema, "An RFC 9457 problem: `type` ends in a stable code (also the title), `detail` says what went wrong; `errors` names each bad value of the input.");

const SCHEMAS = "#/components/schemas/";
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const options = {
  target: "draft-2020-12",
  unrepresentable: "any",
  // Leaves out what says nothing to a reader: the safe-integer bounds of every integer, and the pattern
  // beside format date-time.
  override: ({ jsonSchema: schema }: { jsonSchema: JsonSchema }) => {
    if (schema.minimum === -MAX_SAFE) delete schema.minimum;
    if (schema.maximum === MAX_SAFE) delete schema.maximum;
    if (schema.format === "date-time") delete schema.pattern;
  },
} as const;

function withoutDialect({ $schema: _dialect, $id: _id, ...schema }: JsonSchema): JsonSchema {
  return schema;
}

/** A schema's JSON Schema: a reference to components.schemas when it is named there, else inline. */
function schemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const id = (io === "input" ? requestSchemas : responseSchemas).get(schema)?.id;
  return id ? { $ref: `${SCHEMAS}${id}` } : withoutDialect(z.toJSONSchema(schema, { ...options, io }) as JsonSchema);
}

function namedSchemas(): Record<string, JsonSchema> {
  const uri = (id: string) => `${SCHEMAS}${id}`;
  const requests = z.toJSONSchema(requestSchemas, { ...options, io: "input", uri }).schemas;
  const responses = z.toJSONSchema(responseSchemas, { ...options, io: "output", uri }).schemas;
  const all = { ...requests, ...responses } as Record<string, JsonSchema>;
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)).map(([id, schema]) => [id, withoutDialect(schema)]));
}

/** One parameter per property of an object schema. */
function parametersOf(schema: z.ZodType | undefined, place: "path" | "query"): OpenApiParameter[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { ...options, io: "input" }) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property as JsonSchema & { description?: string };
    return { name, in: place, required: place === "path" || (json.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

/** The refusals documented once, in components.responses, by status. */
const REFUSALS: Record<number, { name: string; description: string; headers?: string[] }> = {
  400: { name: "BadRequest", description: "`invalid_input` (each bad value in `errors`, by field) or `malformed_json`." },
  401: { name: "Unauthorized", description: "`unauthorized` (no credentials) or `invalid_token` (expired, revoked, another audience, no admin scope).", headers: ["WWW-Authenticate"] },
  403: { name: "Forbidden", description: "`insufficient_scope` (a token without admin:write), `forbidden` (a console viewer), `csrf_failed` (a console session's change without its CSRF token or from another origin)." },
  404: { name: "NotFound", description: "`not_found`: no such entity (or, outside the documented paths, no such endpoint)." },
  409: { name: "Conflict", description: "`conflict`: an entity with that identity exists already, or (a key rotation) another change of the same entities landed first." },
  412: { name: "PreconditionFailed", description: "`precondition_failed`: the entity changed since the version If-Match names." },
  413: { name: "PayloadTooLarge", description: "`payload_too_large`: the body is over MAX_BODY_BYTES." },
  415: { name: "UnsupportedMediaType", description: "`unsupported_media_type`: the body is not application/json." },
};

function refusalsOf(op: Operation): number[] {
  const statuses = [400];
  if (op.access !== "public") statuses.push(401, 403);
  if (op.params) statuses.push(404);
  if (op.conflicts) statuses.push(409);
  if (op.conditional) statuses.push(412);
  if (op.body) statuses.push(413, 415);
  return statuses;
}

const PROBLEM_CONTENT = { "application/problem+json": { schema: { $ref: `${SCHEMAS}Problem` } } };

function securityOf(op: Operation): Array<Record<string, string[]>> {
  if (op.access === "public") return [];
  const scopes = op.access === "read" ? [[ADMIN_SCOPES.read], [ADMIN_SCOPES.write]] : [[ADMIN_SCOPES.write]];
  return [...scopes.map((s) => ({ gatehouseToken: s })), { consoleSession: [] }];
}

function describeOperation(op: Operation): OpenApiOperation {
  const parameters = [...parametersOf(op.params, "path"), ...parametersOf(op.query, "query")];
  if (op.conditional) {
    parameters.push({
      name: "If-Match",
      in: "header",
      required: false,
      description: "The ETag of the version this change is based on: refused with 412 when the entity has changed since.",
      schema: { type: "string" },
    });
  }
  const { success } = op;
  const content = success.schema ? { "application/json": { schema: schemaOf(success.schema, "output") } } : success.type ? { [success.type]: { schema: { type: "string" } } } : undefined;
  const headers = success.headers?.length ? Object.fromEntries(success.headers.map((h) => [h, { $ref: `#/components/headers/${h}` }])) : undefined;
  const responses: OpenApiOperation["responses"] = { [success.status]: { description: success.description, ...(headers ? { headers } : {}), ...(content ? { content } : {}) } };
  for (const status of refusalsOf(op)) responses[status] = { $ref: `#/components/responses/${REFUSALS[status]!.name}` };
  responses.default = { $ref: "#/components/responses/Unexpected" };
  return {
    operationId: op.id,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: securityOf(op),
    "x-access": op.access,
    parameters,
    ...(op.body ? { requestBody: { required: !op.body.safeParse({}).success, content: { "application/json": { schema: schemaOf(op.body, "input") } } } } : {}),
    responses,
  };
}

const DESCRIPTION = `Gatehouse's configuration as JSON: the same resources, fields and error messages as the CLI's \`--json\` output.

Authenticate with a Gatehouse access token for the API \`${ADMIN_API}\` (ask the token endpoint with \`resource=${ADMIN_API}\`): scope \`${ADMIN_SCOPES.read}\` to read, \`${ADMIN_SCOPES.write}\` to change. A console session cookie works too; a change made with it needs the session's CSRF token in \`X-CSRF-Token\`.

Request bodies are JSON objects (\`Content-Type: application/json\`). Errors are RFC 9457 problem details; a method a path does not take is 405 \`method_not_allowed\` with \`Allow\`. Lists answer in pages (\`offset\`, \`limit\` up to 500, \`total\`). A single resource carries an \`ETag\`; send it back in \`If-Match\` to change or delete only the version you read. No answer may be cached; a generated secret or password appears only in the answer that created it.`;

export function openApiDocument(operations: readonly Operation[], issuer: string): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  for (const op of operations) (paths[op.path] ??= {})[op.method.toLowerCase()] = describeOperation(op);
  const responses: OpenApiDocument["components"]["responses"] = Object.fromEntries(
    Object.entries(REFUSALS).map(([status, r]) => [
      r.name,
      { description: `${status}: ${r.description}`, ...(r.headers ? { headers: Object.fromEntries(r.headers.map((h) => [h, { $ref: `#/components/headers/${h}` }])) } : {}), content: PROBLEM_CONTENT },
    ]),
  );
  responses.Unexpected = { description: "`server_error` (500, logged), `temporarily_unavailable` (503: the database; with Retry-After).", content: PROBLEM_CONTENT };
  return {
    openapi: "3.1.0",
    info: { title: "Gatehouse admin API", version: "1", description: DESCRIPTION },
    servers: [{ url: `${issuer}/admin/api` }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: namedSchemas(),
      responses,
      headers: {
        ETag: { description: "The version of the resource, for If-Match.", schema: { type: "string" } },
        Location: { description: "The URL of the created resource.", schema: { type: "string", format: "uri" } },
        "WWW-Authenticate": { description: "The Bearer challenge (RFC 6750), with error and error_description for a token that was refused.", schema: { type: "string" } },
      },
      securitySchemes: {
        gatehouseToken: {
          type: "oauth2",
          description: `A Gatehouse access token for ${ADMIN_API}: a client with grant client_credentials and the admin scopes asks ${issuer}/token with resource=${ADMIN_API}.`,
          flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { [ADMIN_SCOPES.read]: "See Gatehouse's configuration", [ADMIN_SCOPES.write]: "Change Gatehouse's configuration" } } },
        },
        consoleSession: {
          type: "apiKey",
          in: "cookie",
          name: SESSION_COOKIE,
          description: "A console session (sign in at /admin): viewers read, admins change too. A change needs the session's CSRF token in X-CSRF-Token and must come from the console's origin.",
        },
      },
    },
  };
}
