// /v1/scopes: scopes clients may request beyond OpenID Connect's standard ones.
import { z } from "zod";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { scopeInputSchema, type ScopeResource } from "../../../services/scopes.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { name: scopeName, ...settings } = scopeInputSchema.shape;
const params = z.object({ name: scopeName }).strict();

const scope = responseSchema("Scope", z.object({ name: scopeName, description: z.string() }).strict(), "A registered scope and the text the consent page shows for it.");
true satisfies SameFields<typeof scope, ScopeResource>;
const scopeInput = requestSchema("ScopeInput", scopeInputSchema, "A scope to register.");
const scopeChanges = requestSchema("ScopeChanges", patchOf(settings), "The fields to change.");

export const scopeOperations = [
  operation({
    method: "GET",
    path: "/v1/scopes",
    id: "listScopes",
    tag: "Scopes",
    summary: "List scopes",
    description: "By name; `search` matches the name or the description, in any case.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of scopes.", schema: pageSchema("ScopePage", scope) },
    handle: async ({ query, services }) => ({ body: pageOf(await services.scopes.list(), query, (s) => [s.name, s.description]) }),
  }),
  operation({
    method: "POST",
    path: "/v1/scopes",
    id: "createScope",
    tag: "Scopes",
    summary: "Register a scope",
    access: "write",
    body: scopeInput,
    conflicts: true,
    success: { status: 201, description: "The scope was registered.", schema: scope, headers: ["Location", "ETag"] },
    handle: async ({ body, services }) => {
      const created = await services.scopes.create(body);
      return tagged(created, { location: `/v1/scopes/${segment(created.name)}` });
    },
  }),
  operation({
    method: "GET",
    path: "/v1/scopes/{name}",
    id: "getScope",
    tag: "Scopes",
    summary: "Show a scope",
    access: "read",
    params,
    success: { status: 200, description: "The scope.", schema: scope, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.scopes.get(params.name)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/scopes/{name}",
    id: "updateScope",
    tag: "Scopes",
    summary: "Change a scope's description",
    access: "write",
    params,
    body: scopeChanges,
    conditional: true,
    success: { status: 200, description: "The scope as changed.", schema: scope, headers: ["ETag"] },
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.scopes.update(params.name, body, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/scopes/{name}",
    id: "deleteScope",
    tag: "Scopes",
    summary: "Delete a scope",
    access: "write",
    params,
    conditional: true,
    conflicts: true,
    success: { status: 204, description: "The scope was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.scopes.get(params.name), ifMatch);
      await services.scopes.delete(params.name);
      return {};
    },
  }),
];
