// A Gatehouse server for admin API tests, with automation clients and console users, and a caller that
// checks every answer against the OpenAPI document the server itself serves: the document's schemas are
// turned back into validators (zod's fromJSONSchema), so an answer with a field the document does not
// describe, or without one it promises, fails the test that received it. Every answer must also be
// no-store, every refusal a problem document without a stack trace, and every status below 500 of a
// documented operation listed in its responses.
import { z } from "zod";
import type { OpenApiDocument, OpenApiOperation, OpenApiResponse } from "../../src/admin/api/openapi.ts";
import { freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { UserAgent } from "../helpers/user-agent.ts";

export const ADMIN_API = "urn:gatehouse:admin";
export const PASSWORD = "correct horse battery staple";

export interface Credentials {
  client_id: string;
  client_secret: string;
}

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  token?: string;
  /** A value sent as JSON, or a string sent as it is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the request with this signed-in browser (its console session cookie). */
  agent?: UserAgent;
}

/** A console user signed in through the login page, with the CSRF token the console's forms carry. */
export interface ConsoleUser {
  agent: UserAgent;
  csrf: string;
}

export interface AdminApiSuite {
  db: FreshDatabase;
  gatehouse: RunningGatehouse;
  document: OpenApiDocument;
  /** A client_credentials client with admin:read and admin:write. */
  writer: Credentials;
  /** A client_credentials client with admin:read only. */
  reader: Credentials;
  /** An access token from the token endpoint (default: resource urn:gatehouse:admin). */
  token(client: Credentials, scope: string, resource?: string): Promise<string>;
  /** A token of the writer with both admin scopes. */
  writeToken(): Promise<string>;
  call<T = any>(method: string, path: string, options?: CallOptions): Promise<Answer<T>>;
  /** Signs a console user in (ada: admin, viv: viewer, both with PASSWORD) through the login page. */
  signIn(username: string, password?: string): Promise<ConsoleUser>;
}

type Validator = z.ZodType;

/** The document's schemas as validators, a $ref to components.schemas resolved against them. */
function validators(document: OpenApiDocument): (schema: Record<string, unknown>) => Validator {
  const defs = JSON.parse(JSON.stringify(document.components.schemas).replaceAll("#/components/schemas/", "#/$defs/"));
  const cache = new Map<string, Validator>();
  return (schema) => {
    const text = JSON.stringify(schema).replaceAll("#/components/schemas/", "#/$defs/");
    let validator = cache.get(text);
    if (!validator) cache.set(text, (validator = z.fromJSONSchema({ ...JSON.parse(text), $defs: defs })));
    return validator;
  };
}

function findOperation(document: OpenApiDocument, method: string, pathname: string): OpenApiOperation | undefined {
  for (const [template, operations] of Object.entries(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    if (pattern.test(pathname)) return operations[method.toLowerCase() === "head" ? "get" : method.toLowerCase()];
  }
  return undefined;
}

function conform(document: OpenApiDocument, validatorOf: ReturnType<typeof validators>, method: string, path: string, answer: Answer, text: string): void {
  const where = `${method} ${path} → ${answer.status}`;
  expect([where, answer.headers.get("cache-control")]).toEqual([where, "no-store"]);
  const problem = answer.status >= 400;
  if (problem) {
    expect([where, answer.headers.get("content-type")]).toEqual([where, "application/problem+json"]);
    expect(text).not.toMatch(/\n\s+at /);
    expect(answer.body.status).toBe(answer.status);
  }
  const operation = findOperation(document, method, new URL(path, "http://x").pathname);
  let schema: Record<string, unknown> | undefined;
  if (operation) {
    const documented = operation.responses[String(answer.status)] ?? (answer.status >= 500 ? operation.responses.default : undefined);
    if (!documented) throw new Error(`${where}: status not in the document's responses (${Object.keys(operation.responses).join(", ")})`);
    const response = "$ref" in documented ? document.components.responses[documented.$ref.split("/").pop()!]! : (documented as OpenApiResponse);
    const content = response.content && Object.values(response.content)[0];
    if (!content && method !== "HEAD") expect([where, text]).toEqual([where, ""]);
    if (content && (answer.headers.get("content-type") ?? "").includes("json")) schema = content.schema;
  } else if (problem) {
    schema = { $ref: "#/components/schemas/Problem" };
  }
  if (!schema || method === "HEAD") return;
  const result = validatorOf(schema).safeParse(answer.body);
  if (!result.success) throw new Error(`${where}: the answer does not match the OpenAPI document: ${JSON.stringify(result.error.issues, null, 1)}\n${text.slice(0, 2000)}`);
}

/** Registers the suite's beforeAll/afterAll; its fields are set once beforeAll has run. */
export function adminApiSuite(backend: Backend, env: Record<string, string> = {}): AdminApiSuite {
  const suite = {} as AdminApiSuite;
  let validatorOf: ReturnType<typeof validators>;

  beforeAll(async () => {
    suite.db = await freshDatabase(backend);
    await withServices(suite.db, async (services) => {
      await services.users.create({ username: "ada", password: PASSWORD, roles: ["admin"] });
      await services.users.create({ username: "viv", password: PASSWORD, roles: ["viewer"] });
    });
    suite.gatehouse = await startGatehouse(suite.db, env);
    // The admin scopes exist once the server has started; clients asking for them come after.
    const client = (name: string, scopes: string[]) =>
      withServices(suite.db, async (services) => {
        const { client, client_secret } = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes });
        return { client_id: client.client_id, client_secret: client_secret! };
      });
    suite.writer = await client("automation", ["admin:read", "admin:write"]);
    suite.reader = await client("dashboards", ["admin:read"]);
    suite.document = (await (await fetch(`${suite.gatehouse.issuer}/admin/api/openapi.json`)).json()) as OpenApiDocument;
    validatorOf = validators(suite.document);
  });

  afterAll(async () => {
    await suite.gatehouse?.stop();
    await suite.db?.drop();
  });

  suite.token = async (client, scope, resource = ADMIN_API) => {
    const response = await fetch(`${suite.gatehouse.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope, resource }),
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
    return body.access_token;
  };

  let writeToken: string | undefined;
  suite.writeToken = async () => (writeToken ??= await suite.token(suite.writer, "admin:read admin:write"));

  suite.call = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    }
    const url = `${suite.gatehouse.issuer}/admin/api${path}`;
    const init = { method, headers, body };
    const response = options.agent ? await options.agent.request(url, init) : await fetch(url, init);
    const text = await response.text();
    const type = response.headers.get("content-type") ?? "";
    const answer = { status: response.status, headers: response.headers, body: text && type.includes("json") ? JSON.parse(text) : text };
    conform(suite.document, validatorOf, method, path, answer, text);
    return answer;
  };

  suite.signIn = async (username, password = PASSWORD) => {
    const agent = new UserAgent();
    const { issuer } = suite.gatehouse;
    const start = await agent.follow(`${issuer}/admin`, issuer);
    const signedIn = await agent.submit(start.page!, { username, password }, issuer);
    const csrf = /name="csrf" value="([^"]+)"/.exec(signedIn.page?.html ?? "")?.[1];
    if (!csrf) throw new Error(`no console page with a CSRF token after signing in as ${username}:\n${signedIn.page?.html.slice(0, 1000)}`);
    return { agent, csrf };
  };

  return suite;
}
