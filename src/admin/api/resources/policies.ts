// /v1/policies: the gateway policies there are, each with its JSON Schema, the same schema that checks
// the `policies` of an API or a route (services/policies.ts). Each policy's settings are also named in
// the document's components (CorsPolicy, RateLimitPolicy, ...), as sent and as answered.
import { z } from "zod";
import { listQuerySchema } from "../../../services/paging.ts";
import { PIPELINE_STAGES, POLICY_IDS, describePolicies, policySpec, type PolicyDescription } from "../../../services/policies.ts";
import { operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema } from "../operation.ts";

/** CorsPolicy, RateLimitPolicy, ...: the component name of a policy's settings. */
const componentName = (id: string) => `${id.split("_").map((word) => word[0]!.toUpperCase() + word.slice(1)).join("")}Policy`;

for (const id of POLICY_IDS) {
  const spec = policySpec(id);
  requestSchema(`${componentName(id)}Input`, spec.input, `${spec.title} policy (\`${id}\`), as sent: ${spec.summary}`);
  responseSchema(componentName(id), spec.shown, `${spec.title} policy (\`${id}\`), as answered: ${spec.summary}`);
}

const policy = responseSchema(
  "Policy",
  z
    .object({
      id: z.enum(POLICY_IDS as [string, ...string[]]),
      title: z.string(),
      summary: z.string(),
      stages: z.array(z.enum(PIPELINE_STAGES)).describe("The pipeline stages it acts in (match → authenticate → authorize → mutate → forward)."),
      attach_to: z.array(z.enum(["api", "route"])).describe("Where it may be attached."),
      combine: z.enum(["replace", "add"]).describe("For a route of an API that both have it: `replace`, the route's replaces the API's; `add`, both apply."),
      schema: z.record(z.string(), z.unknown()).describe("JSON Schema of its settings, as sent."),
    })
    .strict(),
  "A gateway policy: what it does, where it acts, and the schema of its settings.",
);
true satisfies SameFields<typeof policy, PolicyDescription>;

export const policyOperations = [
  operation({
    method: "GET",
    path: "/v1/policies",
    id: "listPolicies",
    tag: "Policies",
    summary: "List the gateway policies",
    description: "Every policy an API or a route may have in its `policies`, in the order the pipeline runs them within a stage. `search` matches the id or the title.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of policies.", schema: pageSchema("PolicyPage", policy) },
    handle: async ({ query }) => ({ body: pageOf(describePolicies(), query, (p) => [p.id, p.title]) }),
  }),
];
