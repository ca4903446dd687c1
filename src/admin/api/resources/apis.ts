// /v1/apis: APIs (resource servers). Identifiers are URLs or URNs: percent-encode them in the path
// (/v1/apis/https%3A%2F%2Forders.example.com).
import { z } from "zod";
import { apiInputSchema, outboundOAuthSchema, type ApiInput, type ApiResource } from "../../../services/apis.ts";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { identifier, outbound_oauth: _outbound, ...settings } = apiInputSchema.shape;
export const apiParams = z.object({ identifier }).strict();

const outboundResource = outboundOAuthSchema.omit({ client_secret: true }).extend({ has_client_secret: z.literal(true) }).strict();
const api = responseSchema(
  "Api",
  z.object({ identifier, ...settings, outbound_oauth: outboundResource.nullable() }).strict(),
  "An API. The outbound OAuth client secret is never shown back.",
);
true satisfies SameFields<typeof api, ApiResource>;
true satisfies SameFields<typeof outboundResource, NonNullable<ApiResource["outbound_oauth"]>>;
const apiInput = requestSchema("ApiInput", apiInputSchema, "An API to register; every field but identifier and name has a default.");
const apiChanges = requestSchema(
  "ApiChanges",
  patchOf({ ...settings, outbound_oauth: patchOf(outboundOAuthSchema.shape).nullable() }),
  "The fields to change, within outbound_oauth too (its client_secret is kept unless sent); null outbound_oauth removes it.",
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
    description: "Changes the fields sent and keeps the others; within outbound_oauth too.",
    access: "write",
    params: apiParams,
    body: apiChanges,
    conditional: true,
    success: { status: 200, description: "The API as changed.", schema: api, headers: ["ETag"] },
    // outbound_oauth may be partial here: the service merges it into the stored settings and checks the whole.
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.apis.update(params.identifier, body as Partial<ApiInput>, { ifMatch })),
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
