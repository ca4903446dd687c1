// Gateway routes: listed and added under their API (/v1/apis/{identifier}/routes), then addressed by
// their own id (/v1/routes/{id}).
import { z } from "zod";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { policiesShownSchema, policyChangesSchema } from "../../../services/policies.ts";
import { routeInputSchema, type RouteResource } from "../../../services/routes.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";
import { apiParams } from "./apis.ts";

const params = z.object({ id: z.uuid() }).strict();

const route = responseSchema(
  "Route",
  z
    .object({
      id: z.uuid(),
      api: apiParams.shape.identifier,
      ...routeInputSchema.shape,
      policies: responseSchema("RoutePolicies", policiesShownSchema("route"), "The gateway policies attached to the route itself, by id (its API's apply too: a route's replaces its API's of the same id, but rate limits, which add up)."),
    })
    .strict(),
  "A gateway route of an API. `scopes` maps a method or * (every other method) to the scopes a request needs.",
);
true satisfies SameFields<typeof route, RouteResource>;
const routeInput = requestSchema("RouteInput", routeInputSchema, "A route to add; path_prefix and upstream are required.");
const routeChanges = requestSchema(
  "RouteChanges",
  patchOf({ ...routeInputSchema.shape, policies: policyChangesSchema("route") }),
  "The fields to change; the others keep their values. Each policy sent is merged into the attached one's settings (or attached); null detaches it.",
);

export const routeOperations = [
  operation({
    method: "GET",
    path: "/v1/apis/{identifier}/routes",
    id: "listRoutes",
    tag: "Routes",
    summary: "List an API's routes",
    description: "`search` matches the path prefix, the host or the upstream, in any case.",
    access: "read",
    params: apiParams,
    query: listQuerySchema,
    success: { status: 200, description: "A page of the API's routes.", schema: pageSchema("RoutePage", route) },
    handle: async ({ params, query, services }) => ({ body: pageOf(await services.routes.list(params.identifier), query, (r) => [r.path_prefix, r.host, r.upstream]) }),
  }),
  operation({
    method: "POST",
    path: "/v1/apis/{identifier}/routes",
    id: "createRoute",
    tag: "Routes",
    summary: "Add a route to an API",
    description: "A route may require the API's own scopes and registered ones. The gateway serves it at once.",
    access: "write",
    params: apiParams,
    body: routeInput,
    conflicts: true,
    success: { status: 201, description: "The route was added.", schema: route, headers: ["Location", "ETag"] },
    handle: async ({ params, body, services }) => {
      const created = await services.routes.create(params.identifier, body);
      return tagged(created, { location: `/v1/routes/${segment(created.id)}` });
    },
  }),
  operation({
    method: "GET",
    path: "/v1/routes/{id}",
    id: "getRoute",
    tag: "Routes",
    summary: "Show a route",
    access: "read",
    params,
    success: { status: 200, description: "The route.", schema: route, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.routes.get(params.id)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/routes/{id}",
    id: "updateRoute",
    tag: "Routes",
    summary: "Change a route",
    access: "write",
    params,
    body: routeChanges,
    conditional: true,
    conflicts: true,
    success: { status: 200, description: "The route as changed.", schema: route, headers: ["ETag"] },
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.routes.update(params.id, body, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/routes/{id}",
    id: "deleteRoute",
    tag: "Routes",
    summary: "Delete a route",
    access: "write",
    params,
    conditional: true,
    success: { status: 204, description: "The route was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.routes.get(params.id), ifMatch);
      await services.routes.delete(params.id);
      return {};
    },
  }),
];
