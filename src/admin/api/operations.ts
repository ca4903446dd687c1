// Every operation of the admin API, in the order the reference lists them, and the document describing them.
import { z } from "zod";
import { renderView } from "../../web/pages.ts";
import { openApiDocument, type OpenApiDocument } from "./openapi.ts";
import { operation, type Operation } from "./operation.ts";
import { referenceView } from "./reference.ts";
import { apiOperations } from "./resources/apis.ts";
import { auditOperations } from "./resources/audit.ts";
import { clientOperations } from "./resources/clients.ts";
import { issuerOperations } from "./resources/issuers.ts";
import { keyOperations } from "./resources/keys.ts";
import { policyOperations } from "./resources/policies.ts";
import { routeOperations } from "./resources/routes.ts";
import { scopeOperations } from "./resources/scopes.ts";
import { userOperations } from "./resources/users.ts";

export interface AdminApiDescription {
  operations: readonly Operation[];
  document: OpenApiDocument;
}

/** The operations and their OpenAPI document, which the documentation operations serve. */
export function describeAdminApi(issuer: string): AdminApiDescription {
  let document: OpenApiDocument | undefined;
  let view: ReturnType<typeof referenceView> | undefined;
  const documentation = [
    operation({
      method: "GET",
      path: "/openapi.json",
      id: "getOpenApiDocument",
      tag: "Documentation",
      summary: "This API's OpenAPI 3.1 document",
      access: "public",
      success: { status: 200, description: "The OpenAPI document.", schema: z.object({ openapi: z.literal("3.1.0") }).loose() },
      handle: async () => ({ body: document }),
    }),
    operation({
      method: "GET",
      path: "/reference",
      id: "getReference",
      tag: "Documentation",
      summary: "This API's reference, as a web page",
      access: "public",
      success: { status: 200, description: "The reference page.", type: "text/html" },
      handle: async () => {
        view ??= referenceView(document!);
        return { body: await renderView("admin/api-reference", view), type: "text/html; charset=utf-8" };
      },
    }),
  ];
  const operations = [...clientOperations, ...scopeOperations, ...apiOperations, ...routeOperations, ...policyOperations, ...userOperations, ...issuerOperations, ...keyOperations, ...auditOperations, ...documentation];
  document = openApiDocument(operations, issuer);
  return { operations, document };
}
