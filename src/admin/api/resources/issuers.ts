// /v1/issuers: trusted assertion issuers, the outside identity providers whose signed JWTs (RFC 7523) or
// SAML 2.0 assertions (RFC 7522) clients may trade for Gatehouse tokens. An issuer is a URL or an entity
// ID: percent-encode it in the path (/v1/issuers/https%3A%2F%2Flogin.partner.example).
import { z } from "zod";
import { checkIfMatch } from "../../../services/etag.ts";
import { issuerInputSchema, type IssuerResource } from "../../../services/issuers.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { issuer: issuerId, ...settings } = issuerInputSchema.shape;
const params = z.object({ issuer: issuerId }).strict();

const issuer = responseSchema(
  "Issuer",
  z.object({ issuer: issuerId, ...settings, created_at: z.string(), updated_at: z.string() }).strict(),
  "A trusted assertion issuer: how its assertions are checked (JWKS or jwks_uri for JWTs, a pinned certificate for SAML), who may present them, how their subject maps to a user and what they may grant.",
);
true satisfies SameFields<typeof issuer, IssuerResource>;
const issuerInput = requestSchema("IssuerInput", issuerInputSchema, "An issuer to trust; kind and its keys (jwks or jwks_uri, or certificate) are required.");
const issuerChanges = requestSchema("IssuerChanges", patchOf(settings), "The fields to change; the others are kept.");

export const issuerOperations = [
  operation({
    method: "GET",
    path: "/v1/issuers",
    id: "listIssuers",
    tag: "Issuers",
    summary: "List trusted assertion issuers",
    description: "By issuer; `search` matches the issuer or the name, in any case.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of trusted issuers.", schema: pageSchema("IssuerPage", issuer) },
    handle: async ({ query, services }) => ({ body: pageOf(await services.issuers.list(), query, (i) => [i.issuer, i.name]) }),
  }),
  operation({
    method: "POST",
    path: "/v1/issuers",
    id: "createIssuer",
    tag: "Issuers",
    summary: "Trust an assertion issuer",
    access: "write",
    body: issuerInput,
    conflicts: true,
    success: { status: 201, description: "The issuer is trusted.", schema: issuer, headers: ["Location", "ETag"] },
    handle: async ({ body, services }) => {
      const created = await services.issuers.create(body);
      return tagged(created, { location: `/v1/issuers/${segment(created.issuer)}` });
    },
  }),
  operation({
    method: "GET",
    path: "/v1/issuers/{issuer}",
    id: "getIssuer",
    tag: "Issuers",
    summary: "Show a trusted issuer",
    access: "read",
    params,
    success: { status: 200, description: "The issuer.", schema: issuer, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.issuers.get(params.issuer)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/issuers/{issuer}",
    id: "updateIssuer",
    tag: "Issuers",
    summary: "Change a trusted issuer",
    description: "`enabled: false` stops trusting it: its assertions are refused from then on.",
    access: "write",
    params,
    body: issuerChanges,
    conditional: true,
    success: { status: 200, description: "The issuer as changed.", schema: issuer, headers: ["ETag"] },
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.issuers.update(params.issuer, body, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/issuers/{issuer}",
    id: "deleteIssuer",
    tag: "Issuers",
    summary: "Stop trusting an issuer and forget it",
    access: "write",
    params,
    conditional: true,
    success: { status: 204, description: "The issuer was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.issuers.get(params.issuer), ifMatch);
      await services.issuers.delete(params.issuer);
      return {};
    },
  }),
];
