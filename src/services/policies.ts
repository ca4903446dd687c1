// Gateway policies: every behaviour the gateway adds to an API or a route beyond matching, checking the
// token and forwarding has one shape, as Kong's plugins and Oathkeeper's handlers do. A policy has an id,
// a schema (typed fields with defaults, ranges and descriptions) and handlers for the pipeline's stages
// (src/gateway/policies/). It attaches to an API or to a route and is stored as JSON its schema has
// validated. The same schema checks the CLI (`gatehouse policy attach`), the declarative file
// (`policies:`), the admin API (`policies` of an API or a route; the OpenAPI document is generated from
// it) and the console's forms, and `gatehouse policy show` prints the reference from it.
//
// This file holds what the services need: the schemas, the stored and shown forms (outbound OAuth's
// client secret is sealed when stored and never shown) and how attachments change. The gateway
// compiles the stored configurations into its route table once per configuration load.
import { z } from "zod";
import { apiIdentifierSchema } from "./api-identifier.ts";
import { ValidationError, formatPath } from "./errors.ts";
import { seal, unseal } from "./sealing.ts";
import { originProblem } from "./origins.ts";

/** The gateway's pipeline, in order: every policy acts in some of these stages. */
export const PIPELINE_STAGES = ["match", "authenticate", "authorize", "mutate", "forward"] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

export type AttachPoint = "api" | "route";

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "invalid header name");

/** What the database holds for one entity: each attached policy's stored configuration, by policy id. */
export type StoredPolicies = Record<string, Record<string, unknown>>;

interface StoreContext {
  /** KEY_ENCRYPTION_SECRET (asked for only by policies that seal). */
  secret: () => string;
  /** Where the value is, for errors (e.g. "policies.outbound_oauth"). */
  field: string;
}

/**
 * One policy. `input` is what the CLI, the file and the admin API take (defaults filled in), `stored` what
 * the database holds, `shown` what every front end shows back; for most policies the three are the same.
 */
export interface PolicySpec<I extends z.ZodObject = z.ZodObject, S extends z.ZodObject = z.ZodObject, R extends z.ZodObject = z.ZodObject> {
  id: string;
  title: string;
  /** One sentence, for lists and help. */
  summary: string;
  /** The pipeline stages its handlers act in. */
  stages: readonly PipelineStage[];
  attachTo: readonly AttachPoint[];
  /**
   * For a request on a route: "replace" — the route's attachment replaces the API's; "add" — both apply
   * (each counts on its own: rate limits).
   */
  combine: "replace" | "add";
  /** `${NAME}` references in its values are stored as written and resolved by the gateway (not by `apply`). */
  keepsReferences?: boolean;
  input: I;
  stored: S;
  shown: R;
  /** The stored form of a valid input; `current` is what is stored now (a write-only secret left out keeps it). */
  store(input: z.output<I>, current: z.output<S> | undefined, context: StoreContext): z.output<S>;
  show(stored: z.output<S>): z.output<R>;
  /** The input that reproduces a shown configuration (a write-only secret left out, so the stored one stays). */
  inputOf(shown: z.output<R>): z.input<I>;
}

/** A policy whose input is stored and shown as it is. */
function plain<I extends z.ZodObject>(spec: Omit<PolicySpec<I, I, I>, "stored" | "shown" | "store" | "show" | "inputOf"> & { schema?: never }): PolicySpec<I, I, I> {
  return { ...spec, stored: spec.input, shown: spec.input, store: (input) => input, show: (stored) => stored, inputOf: (shown) => shown as z.input<I> };
}

// --- cors -----------------------------------------------------------------------------------------

export const corsSchema = z
  .object({
    origins: z
      .array(
        z.string().superRefine((o, ctx) => {
          const problem = o === "*" ? undefined : originProblem(o, "origins");
          if (problem) ctx.addIssue({ code: "custom", message: `${problem} (or * alone)` });
        }),
      )
      .min(1)
      .max(100)
      .describe("Origins whose pages may call the API, exactly as browsers send them (https://app.example.com). `*` alone allows every origin, but only without credentials."),
    methods: z
      .array(z.enum(HTTP_METHODS))
      .min(1)
      .default(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
      .describe("Methods those pages may use (Access-Control-Allow-Methods). The route's own methods and scopes still apply."),
    headers: z
      .array(headerName)
      .max(50)
      .default(["Authorization", "Content-Type"])
      .describe("Request headers those pages may send (Access-Control-Allow-Headers). Authorization is needed to send a token."),
    expose_headers: z
      .array(headerName)
      .max(50)
      .default([])
      .describe("Response headers those pages may read beyond the safelisted ones (Access-Control-Expose-Headers). The gateway's refusals also expose WWW-Authenticate, Retry-After, RateLimit-Policy and RateLimit."),
    max_age: z.number().int().min(0).max(86_400).default(600).describe("Seconds a browser may reuse a preflight answer (Access-Control-Max-Age)."),
    credentials: z.boolean().default(false).describe("Pages may send cookies or HTTP authentication and read the answer (Access-Control-Allow-Credentials); needs listed origins, never `*`."),
  })
  .strict()
  .superRefine((cors, ctx) => {
    const wildcard = cors.origins.indexOf("*");
    if (wildcard !== -1 && cors.origins.length > 1) ctx.addIssue({ code: "custom", path: ["origins", wildcard], message: "* allows every origin: give it alone or list the origins" });
    if (wildcard !== -1 && cors.credentials) ctx.addIssue({ code: "custom", path: ["origins", wildcard], message: "credentials need the origins listed: * cannot be used with credentials" });
    const seen = new Set<string>();
    cors.origins.forEach((origin, i) => {
      if (seen.has(origin)) ctx.addIssue({ code: "custom", path: ["origins", i], message: `${origin} is listed twice` });
      seen.add(origin);
    });
  });

// --- rate_limit -----------------------------------------------------------------------------------

export const RATE_LIMIT_KEYS = ["client", "subject", "address"] as const;
export const RATE_LIMIT_WINDOWS = { second: 1, minute: 60, hour: 3600 } as const;

const rateLimitEntry = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "lower-case letters, digits, - and _ (at most 32)")
      .optional()
      .describe("The limit's name in the RateLimit-Policy and RateLimit headers; default `<by>-per-<per>`."),
    by: z
      .enum(RATE_LIMIT_KEYS)
      .describe(
        "Whose requests count together: `client` (the token's client_id), `subject` (its sub) or `address` (the caller's address, IPv6 per /64). On a public route only `address` applies.",
      ),
    requests: z.number().int().min(1).max(1_000_000_000).describe("Requests allowed per window, refilled continuously."),
    per: z.enum(["second", "minute", "hour"]).describe("The window."),
    burst: z.number().int().min(1).max(1_000_000_000).optional().describe("Requests that may come at once (the bucket's size); default: `requests`."),
  })
  .strict();

export type RateLimitEntry = z.output<typeof rateLimitEntry>;

/** A limit's name: its own, or `<by>-per-<per>`. */
export const limitName = (limit: RateLimitEntry): string => limit.name ?? `${limit.by}-per-${limit.per}`;

export const rateLimitSchema = z
  .object({
    limits: z.array(rateLimitEntry).min(1).max(10).describe("Each limit is checked after the token (a refused token costs nothing) and before forwarding; a request over any of them gets 429."),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.limits.forEach((limit, i) => {
      const name = limitName(limit);
      if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["limits", i, "name"], message: `two limits are named ${name}: give each its own name` });
      seen.add(name);
    });
  });

// --- claim_headers, forward_token ----------------------------------------------------------------

export const claimHeadersSchema = z
  .object({
    claims: z
      .record(z.string().min(1).max(200), headerName)
      .describe("Token claims sent to the backend as headers, claim → header name (email → X-User-Email). A claim the token lacks sends nothing; objects and lists are sent as JSON."),
  })
  .strict();

export const forwardTokenSchema = z
  .object({
    mode: z
      .enum(["none", "original", "signed"])
      .describe(
        "`original`: the caller's Authorization header as it came; `signed`: X-Gatehouse-Token, a JWT of at most GATEWAY_SIGNED_TOKEN_TTL seconds signed with Gatehouse's key (typ gatehouse-identity+jwt, aud the API); `none`: neither (the default without the policy).",
      ),
  })
  .strict();

// --- dpop -----------------------------------------------------------------------------------------

export const dpopSchema = z
  .object({
    required: z
      .boolean()
      .default(true)
      .describe(
        "Refuse plain bearer tokens: only DPoP-bound tokens (RFC 9449), sent as `Authorization: DPoP` with a proof, are accepted (401 with `WWW-Authenticate: DPoP`). Without the policy, or with false, both are accepted; a DPoP-bound token always needs its proof.",
      ),
    max_age_seconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .optional()
      .describe("How old a DPoP proof's iat may be, in seconds; default GATEWAY_DPOP_PROOF_MAX_AGE. Each proof's jti is refused a second time within it."),
    require_nonce: z
      .boolean()
      .default(false)
      .describe("Proofs must carry a nonce the gateway issued (RFC 9449 §9): a request without one gets 401 `use_dpop_nonce` and a `DPoP-Nonce` header to repeat it with."),
  })
  .strict();

// --- token_exchange -------------------------------------------------------------------------------

/** Downstream token exchange (RFC 8693): the backend gets a token for its own API instead of the caller's. */
export const tokenExchangeSchema = z
  .object({
    audience: apiIdentifierSchema.describe("Identifier of the registered API the backend's token is meant for (the exchange's resource)."),
    scope: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("Scopes to ask for, space-separated; default: every scope of the caller's token that the target API accepts."),
  })
  .strict();

// --- outbound_oauth -------------------------------------------------------------------------------

/** A URL, or a ${NAME} reference resolved from the deployment's environment when used. */
const urlOrReference = z.string().refine((v) => /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v) || URL.canParse(v), "must be a URL or contain a ${NAME} reference");

const outboundFields = {
  token_url: urlOrReference
    // A secret in the URL would be stored and shown as written (api show, export): it belongs in client_secret.
    .refine((v) => !/^[^:/?#]+:\/\/[^/?#]*@/.test(v), "must not carry user info (user:password@): give the credentials as client_id and client_secret")
    .describe("Token endpoint of the backend's identity provider; may contain ${NAME} references."),
  client_id: z.string().min(1).describe("The gateway's client_id there."),
  auth_method: z.enum(["basic", "body"]).default("basic").describe("How the client authenticates: HTTP Basic, or client_id and client_secret in the body."),
  scope: z.string().min(1).nullable().default(null).describe("Scope to request, space-separated."),
  resource: z.string().min(1).nullable().default(null).describe("Resource to request (RFC 8707; Azure AD v1 style), if the identity provider wants one."),
  header: headerName.default("Authorization").describe("Header the token is sent in; Authorization gets `Bearer <token>`."),
  remove_headers: z.array(headerName).default([]).describe("Caller headers the backend must not see (a subscription key meant for the gateway)."),
};

/** Client credentials the gateway uses at another identity provider; client_secret is write-only (omitted, the stored one is kept). */
export const outboundOAuthSchema = z
  .object({
    ...outboundFields,
    client_secret: z.string().min(1).optional().meta({ writeOnly: true }).describe("The client secret: stored encrypted, never shown back; omitted, the stored one is kept. May be a ${NAME} reference."),
  })
  .strict();

const outboundStored = z.object({ ...outboundFields, client_secret_sealed: z.string().min(1) }).strict();
const outboundShown = z.object({ ...outboundFields, has_client_secret: z.literal(true).describe("A client secret is stored (it is never shown).") }).strict();

// --- the registry ---------------------------------------------------------------------------------

const SEAL_PURPOSE = "outbound-client-secret";

/** Every policy, in the order the pipeline runs them within a stage. */
export const POLICIES = {
  cors: plain({
    id: "cors",
    title: "CORS",
    summary: "Lets pages of other origins call the API from a browser: the gateway answers preflights itself and adds the CORS headers.",
    stages: ["match", "forward"],
    attachTo: ["api", "route"],
    combine: "replace",
    input: corsSchema,
  }),
  rate_limit: plain({
    id: "rate_limit",
    title: "Rate limit",
    summary: "Requests per second, minute or hour per client, subject or address, with a burst; over the limit, 429 with Retry-After and RateLimit headers.",
    stages: ["authorize", "forward"],
    attachTo: ["api", "route"],
    combine: "add",
    input: rateLimitSchema,
  }),
  claim_headers: plain({
    id: "claim_headers",
    title: "Claim headers",
    summary: "Sends token claims to the backend as headers.",
    stages: ["mutate"],
    attachTo: ["api", "route"],
    combine: "replace",
    input: claimHeadersSchema,
  }),
  forward_token: plain({
    id: "forward_token",
    title: "Token forwarding",
    summary: "Which token the backend receives: the caller's, or a short-lived one Gatehouse signs.",
    stages: ["mutate"],
    attachTo: ["api", "route"],
    combine: "replace",
    input: forwardTokenSchema,
  }),
  token_exchange: plain({
    id: "token_exchange",
    title: "Token exchange",
    summary: "Exchanges the caller's token for one meant only for the backend's API (RFC 8693): the caller as sub, the gateway as act; cached until shortly before it expires.",
    stages: ["mutate"],
    attachTo: ["api", "route"],
    combine: "replace",
    input: tokenExchangeSchema,
  }),
  outbound_oauth: {
    id: "outbound_oauth",
    title: "Outbound OAuth",
    summary: "Gets a client-credentials token from the backend's own identity provider, caches it and sends it; one refresh and retry when the backend answers 401.",
    stages: ["mutate", "forward"],
    attachTo: ["api", "route"],
    combine: "replace",
    keepsReferences: true,
    input: outboundOAuthSchema,
    stored: outboundStored,
    shown: outboundShown,
    store: ({ client_secret: secret, ...settings }, current, context) => {
      let sealed = current?.client_secret_sealed;
      if (secret !== undefined && (!sealed || unseal(sealed, context.secret(), SEAL_PURPOSE) !== secret)) sealed = seal(secret, context.secret(), SEAL_PURPOSE);
      if (!sealed) throw new ValidationError([{ field: `${context.field}.client_secret`, message: "required" }]);
      return { ...settings, client_secret_sealed: sealed };
    },
    show: ({ client_secret_sealed: _sealed, ...settings }) => ({ ...settings, has_client_secret: true as const }),
    inputOf: ({ has_client_secret: _has, ...settings }) => settings,
  } satisfies PolicySpec<typeof outboundOAuthSchema, typeof outboundStored, typeof outboundShown>,
  // Acts in the match stage only to note the route's settings for the authenticate stage (pipeline.ts),
  // alone there: its place in this list changes nothing.
  dpop: plain({
    id: "dpop",
    title: "DPoP",
    summary: "Accepts only DPoP-bound access tokens with a proof of possession of their key (RFC 9449), and sets the proofs' age window.",
    stages: ["authenticate"],
    attachTo: ["api", "route"],
    combine: "replace",
    input: dpopSchema,
  }),
} as const;

export type PolicyId = keyof typeof POLICIES;
export const POLICY_IDS = Object.keys(POLICIES) as PolicyId[];

type Spec<K extends PolicyId> = (typeof POLICIES)[K];
export type PolicyInput<K extends PolicyId> = z.input<Spec<K>["input"]>;
export type PolicyConfig<K extends PolicyId> = z.output<Spec<K>["input"]>;
export type PolicyStored<K extends PolicyId> = z.output<Spec<K>["stored"]>;
export type PolicyShown<K extends PolicyId> = z.output<Spec<K>["shown"]>;

/** Policies as the front ends give them for one entity (create, apply, attach): the attached ones by id. */
export type PoliciesInput = { [K in PolicyId]?: PolicyInput<K> };
/** Policies as every front end shows them. */
export type PoliciesResource = { [K in PolicyId]?: PolicyShown<K> };
/** A change (PATCH): a policy given is merged into its attached configuration (or attached), null detaches it. */
export type PolicyChanges = { [K in PolicyId]?: Partial<PolicyInput<K>> | null };

export function isPolicyId(id: string): id is PolicyId {
  return Object.hasOwn(POLICIES, id);
}

export function policySpec(id: PolicyId): PolicySpec {
  return POLICIES[id] as unknown as PolicySpec;
}

/** The policies that may attach to `point`, in pipeline order. */
export function policiesFor(point: AttachPoint): PolicyId[] {
  return POLICY_IDS.filter((id) => (POLICIES[id].attachTo as readonly AttachPoint[]).includes(point));
}

type Shape = Record<string, z.ZodType>;

/** The `policies` field of an entity's input: each policy that may attach there, optional. */
export function policiesInputSchema(point: AttachPoint) {
  const shape: Shape = {};
  for (const id of policiesFor(point)) shape[id] = policySpec(id).input.optional();
  return z.object(shape).strict().default({}).describe(`Gateway policies attached to this ${point === "api" ? "API (they apply to each of its routes)" : "route"}, by id; see GET /v1/policies.`) as unknown as z.ZodDefault<
    z.ZodObject<{ [K in PolicyId]: z.ZodOptional<Spec<K>["input"]> }, z.core.$strict>
  >;
}

/** The `policies` field of an entity as shown. */
export function policiesShownSchema(point: AttachPoint) {
  const shape: Shape = {};
  for (const id of policiesFor(point)) shape[id] = policySpec(id).shown.optional();
  return z.object(shape).strict() as unknown as z.ZodObject<{ [K in PolicyId]: z.ZodOptional<Spec<K>["shown"]> }, z.core.$strict>;
}

/** Every field of an object optional and without its default (what a PATCH may carry). */
function partialOf(schema: z.ZodObject): z.ZodObject {
  const fields = Object.fromEntries(Object.entries(schema.shape as Shape).map(([name, field]) => [name, (field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field).optional()]));
  return z.object(fields).strict();
}

/** The `policies` field of a change: each policy's fields optional (merged into the attached ones), or null to detach it. */
export function policyChangesSchema(point: AttachPoint) {
  const shape: Shape = {};
  for (const id of policiesFor(point)) shape[id] = partialOf(policySpec(id).input).nullable().optional();
  return z
    .object(shape)
    .strict()
    .describe("Policies to change: the fields given are merged into the attached policy's (or attach it), null detaches it; policies not named stay as they are.") as unknown as z.ZodObject<
    { [K in PolicyId]: z.ZodOptional<z.ZodNullable<z.ZodObject>> },
    z.core.$strict
  >;
}

/**
 * Reads an entity's stored policies, dropping what no longer validates (logged by the caller's loader;
 * the services validate everything they store).
 * @returns the stored configurations by id, in pipeline order
 */
export function readStored(stored: StoredPolicies, point: AttachPoint): { policies: { [K in PolicyId]?: PolicyStored<K> }; invalid: Array<{ id: string; error: string }> } {
  const policies: Record<string, unknown> = {};
  const invalid: Array<{ id: string; error: string }> = [];
  for (const id of Object.keys(stored)) {
    if (!isPolicyId(id) || !policiesFor(point).includes(id)) {
      invalid.push({ id, error: `no policy ${id} attaches to a ${point}` });
      continue;
    }
    const parsed = policySpec(id).stored.safeParse(stored[id]);
    if (parsed.success) policies[id] = parsed.data;
    else invalid.push({ id, error: parsed.error.issues.map((i) => `${formatPath(i.path) || "(config)"}: ${i.message}`).join("; ") });
  }
  const ordered: Record<string, unknown> = {};
  for (const id of POLICY_IDS) if (id in policies) ordered[id] = policies[id];
  return { policies: ordered as { [K in PolicyId]?: PolicyStored<K> }, invalid };
}

/** The shown form of stored policies (never a secret), in pipeline order. */
export function showPolicies(stored: StoredPolicies, point: AttachPoint): PoliciesResource {
  const { policies } = readStored(stored, point);
  const shown: Record<string, unknown> = {};
  for (const id of POLICY_IDS) {
    const config = policies[id];
    if (config !== undefined) shown[id] = policySpec(id).show(config as never);
  }
  return shown as PoliciesResource;
}

/** The input that reproduces shown policies. */
export function policiesInputOf(shown: PoliciesResource): PoliciesInput {
  const input: Record<string, unknown> = {};
  for (const id of POLICY_IDS) {
    const config = shown[id];
    if (config !== undefined) input[id] = policySpec(id).inputOf(config as never);
  }
  return input as PoliciesInput;
}

/**
 * The stored policies for validated input (the whole set: what is not given is detached). A write-only
 * secret left out keeps the one stored now.
 * @param field where each policy is in the input, for errors (policies.<id>)
 */
export function storePolicies(input: Record<string, unknown>, current: StoredPolicies, secret: () => string, field: (id: string) => string = (id) => `policies.${id}`): StoredPolicies {
  const stored: StoredPolicies = {};
  for (const id of POLICY_IDS) {
    const config = input[id];
    if (config === undefined) continue;
    const spec = policySpec(id);
    const previous = spec.stored.safeParse(current[id]);
    stored[id] = spec.store(config as never, previous.success ? previous.data : undefined, { secret, field: field(id) }) as Record<string, unknown>;
  }
  return stored;
}

/**
 * Applies a change to the input of an entity's policies: a policy given is merged into its attached
 * input (or attached with its defaults), null detaches it.
 */
export function mergePolicyChanges(current: PoliciesInput, changes: PolicyChanges): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current };
  for (const [id, change] of Object.entries(changes)) {
    if (change === undefined) continue;
    if (change === null) delete merged[id];
    else merged[id] = { ...((merged[id] as object | undefined) ?? {}), ...change };
  }
  return merged;
}

/** The policy's reference (its JSON Schema, as the admin API documents it). */
export function policyJsonSchema(id: PolicyId): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(policySpec(id).input, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return schema;
}

/** A policy as the catalog shows it (GET /v1/policies, `gatehouse policy list`). */
export interface PolicyDescription {
  id: PolicyId;
  title: string;
  summary: string;
  stages: PipelineStage[];
  attach_to: AttachPoint[];
  combine: "replace" | "add";
  /** JSON Schema of its configuration (as sent). */
  schema: Record<string, unknown>;
}

export function describePolicies(): PolicyDescription[] {
  return POLICY_IDS.map((id) => {
    const spec = policySpec(id);
    return { id, title: spec.title, summary: spec.summary, stages: [...spec.stages], attach_to: [...spec.attachTo], combine: spec.combine, schema: policyJsonSchema(id) };
  });
}

/** Whether a value at `path` of a declarative file is inside a policy whose `${NAME}` references the gateway resolves. */
export function keepsReferencesAt(path: readonly PropertyKey[]): boolean {
  const at = path.indexOf("policies");
  const id = at === -1 ? undefined : path[at + 1];
  return typeof id === "string" && isPolicyId(id) && policySpec(id).keepsReferences === true;
}
