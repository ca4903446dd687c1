// The OpenAPI round trip: the router serves exactly the operations the document describes (and the
// document nothing else), the document is well-formed OpenAPI 3.1 whose request schemas refuse what the
// server refuses, the running server serves that document and answers at every path in it, and the
// reference page shows every operation and schema. (The harness checks every answer of every admin API
// test against the served document's response schemas.)
import crypto from "node:crypto";
import { z } from "zod";
import { apiRouter, routerPath, type ApiDeps } from "../../src/admin/api/index.ts";
import type { OpenApiDocument } from "../../src/admin/api/openapi.ts";
import { describeAdminApi } from "../../src/admin/api/operations.ts";
import { BACKENDS } from "../helpers/databases.ts";
import { adminApiSuite } from "./api-harness.ts";

const ISSUER = "https://login.example.com";

/** A request path for a documented path, with a plausible value for each parameter. */
function concrete(template: string): string {
  const samples: Record<string, string> = { client_id: "some-client", name: "some:scope", identifier: encodeURIComponent("urn:example:api"), id: crypto.randomUUID(), username: "someone" };
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => samples[name] ?? "x");
}

function refs(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, into));
  else if (value && typeof value === "object") for (const [key, inner] of Object.entries(value)) key === "$ref" ? into.push(inner as string) : refs(inner, into);
  return into;
}

describe("the admin API's OpenAPI document", () => {
  const { operations, document } = describeAdminApi(ISSUER);

  test("every route the router serves is in the document, and every documented operation is a route", () => {
    const router = apiRouter({ config: { ISSUER } } as ApiDeps, operations);
    const served = router.stack.flatMap((layer) => layer.methods.filter((m) => m !== "HEAD").map((m) => `${m} ${String(layer.path)}`)).sort();
    const documented = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} /admin/api${routerPath(path)}`))
      .sort();
    expect(served).toEqual(documented);
    // clients 7, scopes 5, apis 5, routes 5, users 9, keys 2, audit 1, policies 1, documentation 2
    expect(served).toHaveLength(42);
  });

  test("it is well-formed OpenAPI 3.1: unique operation ids, declared path parameters, resolvable references, problems for refusals", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document.servers).toEqual([{ url: `${ISSUER}/admin/api` }]);
    const ids = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const [path, methods] of Object.entries(document.paths)) {
      const inPath = [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method} ${path}`;
        expect([where, op.parameters.filter((p) => p.in === "path").map((p) => p.name).sort()]).toEqual([where, inPath]);
        expect([where, op.summary.length > 0, op.tags.length]).toEqual([where, true, 1]);
        const success = Object.keys(op.responses).filter((s) => s.startsWith("2"));
        expect([where, success.length]).toEqual([where, 1]);
        if (op["x-access"] !== "public") expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(["401", "403"])]);
        if (method === "patch" || method === "delete") expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(["412"])]);
      }
    }
    for (const ref of refs(document)) {
      const target = ref.split("/").slice(1).reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document);
      expect([ref, target === undefined]).toEqual([ref, false]);
    }
    for (const response of Object.values(document.components.responses)) expect(Object.keys(response.content ?? {})).toEqual(["application/problem+json"]);
    // The document is plain JSON: it survives a round trip through text unchanged.
    expect(JSON.parse(JSON.stringify(document))).toEqual(document);
  });

  test("request schemas are described as sent (defaults optional), resources as answered (every field present)", () => {
    const schemas = document.components.schemas as Record<string, { required?: string[]; properties: Record<string, unknown> }>;
    expect(schemas.ClientInput!.required).toEqual(["client_name"]);
    expect(schemas.RouteInput!.required!.sort()).toEqual(["path_prefix", "upstream"]);
    expect(schemas.ClientChanges!.required ?? []).toEqual([]);
    expect(schemas.Client!.required!.sort()).toEqual(Object.keys(schemas.Client!.properties).sort());
    expect(Object.keys(schemas.Client!.properties)).not.toContain("client_secret");
    expect(Object.keys(schemas.ClientCreated!.properties)).toContain("client_secret");
    // An API's gateway behaviour is in its policies; the flat fields of earlier releases are taken, marked deprecated, never answered.
    expect(Object.keys(schemas.Api!.properties)).toContain("policies");
    expect(Object.keys(schemas.Api!.properties)).not.toContain("outbound_oauth");
    expect(Object.keys(schemas.ApiPolicies!.properties).sort()).toEqual(["claim_headers", "cors", "dpop", "forward_token", "outbound_oauth", "rate_limit", "token_exchange"]);
    expect(JSON.stringify([schemas.Api, schemas.ApiPolicies, schemas.OutboundOauthPolicy])).not.toContain('"client_secret"');
    expect(schemas.ApiInput!.properties.outbound_oauth).toMatchObject({ deprecated: true });
    // Each policy's settings are a component, as sent (defaults optional) and as answered.
    expect(schemas.RateLimitPolicyInput!.required).toEqual(["limits"]);
    expect(schemas.CorsPolicyInput!.required).toEqual(["origins"]);
    expect(schemas.CorsPolicy!.required!.sort()).toEqual(Object.keys(schemas.CorsPolicy!.properties).sort());
  });
});

describe.each(BACKENDS)("the served OpenAPI document and reference on %s", (backend) => {
  const api = adminApiSuite(backend);

  test("the server serves the document it is generated from, publicly", async () => {
    const served = await api.call<OpenApiDocument>("GET", "/openapi.json");
    expect(served.status).toBe(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(describeAdminApi(api.gatehouse.issuer).document)));
  });

  test("every documented operation answers at its path: 401 without credentials, the documentation 200", async () => {
    for (const [path, methods] of Object.entries(api.document.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const answer = await api.call(method.toUpperCase(), concrete(path));
        expect([method, path, answer.status]).toEqual([method, path, op["x-access"] === "public" ? 200 : 401]);
      }
    }
  });

  test("what the document's request schemas refuse, the server refuses with 400 naming the field", async () => {
    const token = await api.writeToken();
    const bodyValidator = (path: string, method: string) => {
      const schema = api.document.paths[path]![method]!.requestBody!.content["application/json"].schema;
      const defs = JSON.parse(JSON.stringify(api.document.components.schemas).replaceAll("#/components/schemas/", "#/$defs/"));
      return z.fromJSONSchema({ ...JSON.parse(JSON.stringify(schema).replaceAll("#/components/schemas/", "#/$defs/")), $defs: defs });
    };
    const cases: Array<[string, string, string, Record<string, unknown>, string]> = [
      ["post", "/v1/clients", "/v1/clients", { client_name: "" }, "client_name"],
      ["post", "/v1/clients", "/v1/clients", { client_name: "x", grant_types: ["telepathy"] }, "grant_types[0]"],
      ["post", "/v1/clients", "/v1/clients", { client_name: "x", access_token_ttl: -5 }, "access_token_ttl"],
      ["post", "/v1/scopes", "/v1/scopes", { name: "a b" }, "name"],
      ["post", "/v1/users", "/v1/users", { username: "ok", roles: "admin" }, "roles"],
      ["patch", "/v1/users/{username}", "/v1/users/ada", { enabled: "yes" }, "enabled"],
      ["post", "/v1/apis", "/v1/apis", { identifier: "urn:example:x", name: "X", token_format: "paper" }, "token_format"],
      ["post", "/v1/apis/{identifier}/routes", "/v1/apis/urn%3Agatehouse%3Aadmin/routes", { path_prefix: "/x", upstream: "http://u", timeout_ms: 5 }, "timeout_ms"],
      ["post", "/v1/keys/rotate", "/v1/keys/rotate", { alg: "none" }, "alg"],
      ["post", "/v1/clients/{client_id}/rotate-secret", "/v1/clients/gatehouse-gateway/rotate-secret", { grace_seconds: 1.5 }, "grace_seconds"],
    ];
    for (const [method, template, path, body, field] of cases) {
      expect([template, body, bodyValidator(template, method).safeParse(body).success]).toEqual([template, body, false]);
      const answer = await api.call(method.toUpperCase(), path, { token, body });
      expect([template, body, answer.status, answer.body.errors?.map((e: { field: string }) => e.field)]).toEqual([template, body, 400, [field]]);
    }
  });

  test("the reference page shows every operation and schema, with no script, its stylesheet served", async () => {
    const page = await api.call<string>("GET", "/reference");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'none'");
    expect(page.body).not.toMatch(/<script/i);
    for (const [path, methods] of Object.entries(api.document.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        expect(page.body).toContain(`id="${op.operationId}"`);
        expect(page.body).toContain(`<span class="ref-method m-${method}">${method.toUpperCase()}</span> <code class="ref-path">${path}</code>`);
      }
    }
    for (const name of Object.keys(api.document.components.schemas)) expect(page.body).toContain(`id="schema-${name}"`);
    const stylesheets = [...page.body.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((m) => m[1]!);
    expect(stylesheets).toContain("/assets/reference.css");
    for (const href of stylesheets) {
      const css = await fetch(`${api.gatehouse.issuer}${href}`);
      expect([href, css.status, css.headers.get("content-type")]).toEqual([href, 200, "text/css; charset=utf-8"]);
    }
  });
});
