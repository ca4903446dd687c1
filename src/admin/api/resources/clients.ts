// /v1/clients: OAuth clients, their secrets and what they were issued.
import { z } from "zod";
import { AUTH_METHODS, clientInputSchema, type ClientResource } from "../../../services/clients.ts";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { instant, operation, type SameFields, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { client_id: optionalId, client_secret: clientSecret, ...settings } = clientInputSchema.shape;
const clientId = optionalId.unwrap();
const params = z.object({ client_id: clientId }).strict();

const client = responseSchema(
  "Client",
  z
    .object({
      client_id: clientId,
      ...settings,
      public: z.boolean(),
      token_endpoint_auth_method: z.enum(AUTH_METHODS),
      response_types: z.array(z.string()),
      /** Why some of its grants are weaker than the authorization code flow with PKCE. */
      warnings: z.array(z.string()),
      has_secret: z.boolean(),
      previous_secret_expires_at: instant.nullable(),
      created_at: instant,
      updated_at: instant,
    })
    .strict(),
  "A registered client. Its secret is never shown back, only whether it has one.",
);
true satisfies SameFields<typeof client, ClientResource>;
const createdClient = responseSchema(
  "ClientCreated",
  client.extend({ client_secret: z.string().optional() }).strict(),
  "The new client, with client_secret when one was generated: shown only in this answer.",
);
const newSecret = responseSchema(
  "ClientSecret",
  z.object({ client_id: clientId, client_secret: z.string(), previous_secret_expires_at: instant.nullable() }).strict(),
  "The client's new secret, shown only in this answer, and until when the previous one still works.",
);
const revoked = responseSchema(
  "ClientTokensRevoked",
  z.object({ client_id: clientId, artifacts_revoked: z.number().int().min(0), not_before: instant }).strict(),
  "How many grants, codes and tokens were deleted; JWT access tokens issued before not_before are refused.",
);

const clientInput = requestSchema("ClientInput", clientInputSchema, "A client to register; every field but client_name has a default.");
const clientChanges = requestSchema("ClientChanges", patchOf({ ...settings, client_secret: clientSecret }), "The fields to change; the others keep their values.");
const rotation = requestSchema(
  "SecretRotation",
  z.object({ grace_seconds: z.number().int().min(0).max(30 * 24 * 3600).default(0) }).strict(),
  "How long the previous secret keeps working beside the new one (0: it stops at once).",
);

/** The client with its secret right after its id, as `gatehouse client create --json` prints it. */
function withSecret(resource: ClientResource, secret: string | undefined) {
  const { client_id, ...rest } = resource;
  return { client_id, ...(secret ? { client_secret: secret } : {}), ...rest };
}

export const clientOperations = [
  operation({
    method: "GET",
    path: "/v1/clients",
    id: "listClients",
    tag: "Clients",
    summary: "List clients",
    description: "Oldest first; `search` matches the client_id or the name, in any case.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of clients.", schema: pageSchema("ClientPage", client) },
    handle: async ({ query, services }) => ({ body: await services.clients.list(query) }),
  }),
  operation({
    method: "POST",
    path: "/v1/clients",
    id: "createClient",
    tag: "Clients",
    summary: "Register a client",
    description: "A confidential client that authenticates with a secret and was given none gets a generated one, returned once in this answer.",
    access: "write",
    body: clientInput,
    conflicts: true,
    success: { status: 201, description: "The client was registered.", schema: createdClient, headers: ["Location", "ETag"] },
    handle: async ({ body, services }) => {
      const created = await services.clients.create(body);
      return { ...tagged(created.client), body: withSecret(created.client, created.client_secret), location: `/v1/clients/${segment(created.client.client_id)}` };
    },
  }),
  operation({
    method: "GET",
    path: "/v1/clients/{client_id}",
    id: "getClient",
    tag: "Clients",
    summary: "Show a client",
    access: "read",
    params,
    success: { status: 200, description: "The client.", schema: client, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.clients.get(params.client_id)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/clients/{client_id}",
    id: "updateClient",
    tag: "Clients",
    summary: "Change a client",
    description: "Changes the fields sent and keeps the others. Disabling a client (`enabled: false`) ends everything it was issued.",
    access: "write",
    params,
    body: clientChanges,
    conditional: true,
    success: { status: 200, description: "The client as changed.", schema: client, headers: ["ETag"] },
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.clients.update(params.client_id, body, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/clients/{client_id}",
    id: "deleteClient",
    tag: "Clients",
    summary: "Delete a client",
    description: "Deletes the client, the consents given to it and everything it was issued.",
    access: "write",
    params,
    conditional: true,
    conflicts: true,
    success: { status: 204, description: "The client was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.clients.get(params.client_id), ifMatch);
      await services.clients.delete(params.client_id);
      return {};
    },
  }),
  operation({
    method: "POST",
    path: "/v1/clients/{client_id}/rotate-secret",
    id: "rotateClientSecret",
    tag: "Clients",
    summary: "Give a client a new secret",
    description: "The new secret is returned once. With grace_seconds the previous secret keeps working that long, so the client's deployments can switch without downtime.",
    access: "write",
    params,
    body: rotation,
    success: { status: 200, description: "The new secret.", schema: newSecret },
    handle: async ({ params, body, services }) => {
      const { client, client_secret } = await services.clients.rotateSecret(params.client_id, { graceSeconds: body.grace_seconds });
      return { body: { client_id: client.client_id, client_secret, previous_secret_expires_at: client.previous_secret_expires_at } };
    },
  }),
  operation({
    method: "POST",
    path: "/v1/clients/{client_id}/revoke-tokens",
    id: "revokeClientTokens",
    tag: "Clients",
    summary: "End everything a client was issued",
    description: "Deletes its grants, codes, refresh and opaque access tokens and refuses every JWT access token issued until now; the client and its consents stay.",
    access: "write",
    params,
    body: z.object({}).strict(),
    success: { status: 200, description: "What was ended.", schema: revoked },
    handle: async ({ params, services }) => {
      const ended = await services.clients.revokeTokens(params.client_id);
      return { body: { client_id: params.client_id, artifacts_revoked: ended.artifacts, not_before: ended.notBefore.toISOString() } };
    },
  }),
];
