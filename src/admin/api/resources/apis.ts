// /v1/apis: APIs (resource servers). Identifiers are URLs or URNs: percent-encode them in the path
// (/v1/apis/https%3A%2F%2Forders.example.com).
import { z } from "zod";
import { apiInputSchema, type ApiChanges, type ApiResource } from "../../../services/apis.ts";
import { outboundOAuthSchema, policiesShownSchema, policyChangesSchema } from "../../../services/policies.ts";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { identifier, policies: _policies, claim_headers, forward_token, outbound_oauth: _outbound, ...settings } = apiInputSchema.shape;
export const apiParams = z.object({ identifier }).strict();

const api = responseSchema(
  "Api",
  z.object({ identifier, ...settings, policies: responseSchema("ApiPolicies", policiesShownSchema("api"), "The gateway policies attached to the API, by id (each applies to every route of the API). An outbound_oauth client secret is never shown back.") }).strict(),
  "An API and the gateway policies attached to it.",
);
true satisfies SameFields<typeof api, ApiResource>;
const apiInput = requestSchema(
  "ApiInput",
  apiInputSchema,
  "An API to register; every field but identifier and name has a default. claim_headers, forward_token and outbound_oauth are deprecated: they are read as the policies of the same names.",
);
const apiChanges = requestSchema(
  "ApiChanges",
  patchOf({
    ...settings,
    claim_headers,
    forward_token,
    outbound_oauth: patchOf(outboundOAuthSchema.shape).nullable().meta({ deprecated: true }).describe("Deprecated: read as policies.outbound_oauth (merged into it; null detaches it)."),
    policies: policyChangesSchema("api"),
  }),
  "The fields to change. Each policy sent is merged into the attached one's settings (or attached); null detaches it; an outbound_oauth client_secret is kept unless sent.",
);

export const apiOperations = [
  operation({
    method: "GET",
    path: "/v1/apis",
    id: "listApis",
    tag: "APIs",
    summary: "List APIs",
    description: "By identifier; `search` matches the identifier or the name, in any case.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of APIs.", schema: pageSchema("ApiPage", api) },
    handle: async ({ query, services }) => ({ body: pageOf(await services.apis.list(), query, (a) => [a.identifier, a.name]) }),
  }),
  operation({
    method: "POST",
    path: "/v1/apis",
    id: "createApi",
    tag: "APIs",
    summary: "Register an API",
    access: "write",
    body: apiInput,
    conflicts: true,
    success: { status: 201, description: "The API was registered.", schema: api, headers: ["Location", "ETag"] },
    handle: async ({ body, services }) => {
      const created = await services.apis.create(body);
      return tagged(created, { location: `/v1/apis/${segment(created.identifier)}` });
    },
  }),
  operation({
    method: "GET",
    path: "/v1/apis/{identifier}",
    id: "getApi",
    tag: "APIs",
    summary: "Show an API",
    access: "read",
    params: apiParams,
    success: { status: 200, description: "The API.", schema: api, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.apis.get(params.identifier)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/apis/{identifier}",
    id: "updateApi",
    tag: "APIs",
    summary: "Change an API",
    description: "Changes the fields sent and keeps the others. `policies` attaches, changes (the fields sent, merged) or detaches (null) each policy named; the others stay.",
    access: "write",
    params: apiParams,
    body: apiChanges,
    conditional: true,
    success: { status: 200, description: "The API as changed.", schema: api, headers: ["ETag"] },
    // outbound_oauth may be partial here: the service merges it into the stored settings and checks the whole.
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.apis.update(params.identifier, body as ApiChanges, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/apis/{identifier}",
    id: "deleteApi",
    tag: "APIs",
    summary: "Delete an API",
    description: "Deletes the API and its routes.",
    access: "write",
    params: apiParams,
    conditional: true,
    conflicts: true,
    success: { status: 204, description: "The API was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.apis.get(params.identifier), ifMatch);
      await services.apis.delete(params.identifier);
      return {};
    },
  }),
];
