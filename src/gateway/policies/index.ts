// The policies' handlers, by id, and the compiler that turns a route's attachments (its API's and its
// own) into the handlers the pipeline runs for it, per stage and in pipeline order: once per
// configuration load, never per request.
import { POLICY_IDS, policySpec, readStored, type PolicyId } from "../../services/policies.ts";
import type { ApiRecord, RouteRecord } from "../../storage/index.ts";
import { ownedHeaders } from "../mutators/owned-headers.ts";
import { IDENTITY_HEADERS } from "../mutators/identity-headers.ts";
import { compileClaimHeaders } from "./claim-headers.ts";
import { compileCors } from "./cors.ts";
import { compileDpop } from "./dpop.ts";
import { compileForwardToken } from "./forward-token.ts";
import { compileOutboundOAuth } from "./outbound-oauth.ts";
import { compileTokenExchange } from "./token-exchange.ts";
import { compileRateLimit } from "./rate-limit.ts";
import type { Attachment, CompileContext, CompiledPolicies, PolicyCompiler, PolicyHandler } from "./types.ts";

export type { CompileContext, CompiledPolicies, PolicyHandler } from "./types.ts";

/** Every policy's handler compiler: a policy the services know and the gateway cannot run fails the type check. */
const COMPILERS: { [K in PolicyId]: PolicyCompiler<K> } = {
  cors: compileCors,
  dpop: compileDpop,
  rate_limit: compileRateLimit,
  claim_headers: compileClaimHeaders,
  forward_token: compileForwardToken,
  outbound_oauth: compileOutboundOAuth,
  token_exchange: compileTokenExchange,
};

const NONE: readonly PolicyHandler[] = [];

/** A route with no policy at all: shared, so such routes allocate nothing. */
export const NO_POLICIES: CompiledPolicies = {
  handlers: NONE,
  preflight: undefined,
  match: NONE,
  authorize: NONE,
  mutate: NONE,
  respond: NONE,
  ownedHeaders: ownedHeaders(NONE),
  secretHeaders: new Set([IDENTITY_HEADERS.token]),
};

/** Reads stored policies, failing (naming the entity) on one that does not validate. */
function attached(point: "api" | "route", owner: string, stored: Record<string, Record<string, unknown>>) {
  const { policies, invalid } = readStored(stored, point);
  if (invalid.length) throw new Error(`${point} ${owner}: stored policy ${invalid.map((i) => `${i.id} (${i.error})`).join(", ")} cannot be used`);
  return policies;
}

/**
 * The handlers for requests on `route` of `api`. A policy attached to both combines as its spec says:
 * the route's replaces the API's, or (rate limits) both apply.
 * @throws Error naming the API or route whose stored policy does not validate
 */
export function compilePolicies(api: ApiRecord, route: RouteRecord, context: CompileContext): CompiledPolicies {
  const onApi = attached("api", api.identifier, api.policies);
  const onRoute = attached("route", route.id, route.policies);
  const handlers: PolicyHandler[] = [];
  for (const id of POLICY_IDS) {
    const attachments: Attachment<PolicyId>[] = [];
    if (onApi[id] !== undefined) attachments.push({ point: "api", owner: api.identifier, config: onApi[id] });
    if (onRoute[id] !== undefined) {
      if (policySpec(id).combine === "replace") attachments.length = 0;
      attachments.push({ point: "route", owner: route.id, config: onRoute[id] });
    }
    if (attachments.length === 0) continue;
    const compile = COMPILERS[id] as PolicyCompiler<PolicyId>;
    handlers.push(compile(attachments, { id: route.id, apiIdentifier: api.identifier, public: route.public }, context));
  }
  if (handlers.length === 0) return NO_POLICIES;
  const having = (stage: keyof PolicyHandler) => handlers.filter((h) => h[stage] !== undefined);
  const pick = (stage: keyof PolicyHandler) => {
    const found = having(stage);
    return found.length ? found : NONE;
  };
  return {
    handlers,
    preflight: having("preflight")[0],
    match: pick("match"),
    authorize: pick("authorize"),
    mutate: pick("mutate"),
    respond: pick("respond"),
    ownedHeaders: ownedHeaders(handlers),
    secretHeaders: new Set([IDENTITY_HEADERS.token, ...handlers.flatMap((h) => h.secretHeaders ?? [])]),
  };
}
