// The admin REST API under /admin/api: /v1/... (the services' resources as JSON, errors as RFC 9457
// problem details), /openapi.json (its OpenAPI 3.1 document) and /reference (the same, as a web page).
// Each request passes, in order: security headers, no-store and the problem handler, the route of its
// operation (operations.ts), authorization (authorize.ts), then run(): path parameters, query and JSON
// body checked with the operation's schemas, the handler, and its answer. Anything else under
// /admin/api is a 404 or 405 problem.
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { z } from "zod";
import { securityHeaders } from "../../shared/security-headers.ts";
import type { AdminState } from "../access.ts";
import { authorize, type ApiDeps } from "./authorize.ts";
import { describeAdminApi } from "./operations.ts";
import type { Operation } from "./operation.ts";
import { Problem, handleProblems } from "./problems.ts";
import { readJsonObject } from "./read-json.ts";
import { validate } from "./validate.ts";

export type { ApiDeps } from "./authorize.ts";
export const API_PREFIX = "/admin/api";

const EMPTY = {};
const emptyObject = z.object({}).strict();

/** /v1/clients/{client_id} → /v1/clients/:client_id */
export const routerPath = (template: string) => template.replace(/\{([a-z_]+)\}/g, ":$1");

function run(op: Operation, deps: ApiDeps): Middleware {
  return async function run(ctx) {
    const params = validate(op.params ?? emptyObject, ctx.params, "path parameter");
    const query = validate(op.query ?? emptyObject, ctx.query, "query parameter");
    const body = op.body ? validate(op.body, (await readJsonObject(ctx as unknown as Context, deps.config.MAX_BODY_BYTES)) ?? EMPTY) : undefined;
    const state = ctx.state as Partial<AdminState>;
    const reply = await op.handle({
      params,
      query,
      body,
      ifMatch: ctx.get("If-Match") || undefined,
      get services() {
        if (!state.services) throw new Error(`${op.id} is public: it has no services`);
        return state.services;
      },
    });
    ctx.status = op.success.status;
    if (reply.etag) ctx.set("ETag", reply.etag);
    if (reply.location) ctx.set("Location", `${deps.config.ISSUER}${API_PREFIX}${reply.location}`);
    if (reply.type) ctx.type = reply.type;
    if (reply.body !== undefined) ctx.body = reply.body;
  };
}

/** The router of every operation: the same list the OpenAPI document is generated from. */
export function apiRouter(deps: ApiDeps, operations: readonly Operation[]): Router {
  const router = new Router({ prefix: API_PREFIX });
  for (const op of operations) {
    router.register(routerPath(op.path), [op.method], [authorize(deps, op.access), run(op, deps)] as unknown as Parameters<Router["register"]>[2], { name: op.id });
  }
  return router;
}

/** No operation took the request: 405 with Allow when the path has operations, else 404. */
function unmatched(ctx: Context & { matched?: Array<{ methods: string[] }> }): void {
  const allowed = [...new Set((ctx.matched ?? []).flatMap((layer) => layer.methods))];
  if (allowed.length === 0) throw new Problem(404, "not_found", `there is no admin API endpoint at ${ctx.path}; see ${API_PREFIX}/reference`);
  ctx.set("Allow", allowed.join(", "));
  if (ctx.method === "OPTIONS") {
    ctx.status = 204;
    return;
  }
  throw new Problem(405, "method_not_allowed", `${ctx.path} takes ${allowed.join(", ")}`);
}

/** Answers every request under /admin/api; passes anything else on. */
export function adminApi(deps: ApiDeps): Middleware {
  const { operations } = describeAdminApi(deps.config.ISSUER);
  const routes = apiRouter(deps, operations).routes() as unknown as Middleware;
  const headers = securityHeaders();
  return async function adminApi(ctx, next) {
    if (ctx.path !== API_PREFIX && !ctx.path.startsWith(`${API_PREFIX}/`)) return next();
    await headers(ctx, () => handleProblems(ctx, () => routes(ctx, async () => unmatched(ctx as unknown as Context))));
  };
}
