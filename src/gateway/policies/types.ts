// How a policy acts in the pipeline (services/policies.ts has its schema). Each policy compiles its
// stored configuration once per configuration load, for each route, into a handler: an object with a
// method for each stage it acts in. The route table holds each route's handlers per stage, in pipeline
// order, so a request only walks arrays it has (empty ones are shared) and nothing is looked up or
// parsed per request.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { PolicyId, PolicyStored } from "../../services/policies.ts";
import type { ForwardTarget } from "../forward/forwarder.ts";
import type { OutboundTokenProvider } from "../mutators/outbound-oauth.ts";
import type { SignedTokenMinter } from "../mutators/signed-token.ts";
import type { TokenExchanger } from "../mutators/token-exchange.ts";
import type { GatewayContext } from "../pipeline.ts";
import type { RateLimitStore } from "./rate-limit-store.ts";

/** Headers of a response being written: the upstream's (as relayed) or the gateway's own refusal. */
export type ResponseHeaders = IncomingHttpHeaders | OutgoingHttpHeaders;

/** A compiled policy for one route. Every method is optional: a policy acts only in its stages. */
export interface PolicyHandler {
  readonly id: PolicyId;
  /**
   * Match stage, for a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method), on the
   * route the announced request would take: sets gw.answer, or throws a refusal.
   */
  preflight?(gw: GatewayContext): void;
  /** Match stage, once the route is known: may note what later stages need (gw.cors). */
  match?(gw: GatewayContext): void;
  /** Authorize stage, after the route's scopes are checked: may refuse (rate limits). */
  authorize?(gw: GatewayContext): void | Promise<void>;
  /** Mutate stage: headers for the upstream request (target.setHeaders), a retry hook. */
  mutate?(gw: GatewayContext, target: ForwardTarget): void | Promise<void>;
  /** Forward stage, as the response goes out: `own` is true for the gateway's own refusal. */
  respond?(gw: GatewayContext, headers: ResponseHeaders, own: boolean): void;
  /** Request headers this policy writes or takes away: a client's copy never reaches the backend. */
  readonly ownedHeaders?: readonly string[];
  /** Request headers it writes whose values are secrets (never shown by the console's explanation). */
  readonly secretHeaders?: readonly string[];
  /** The client's Authorization header reaches the backend (forward_token original). */
  readonly forwardsAuthorization?: boolean;
}

/** One attachment of a policy that applies to a route: on its API or on the route itself. */
export interface Attachment<K extends PolicyId> {
  point: "api" | "route";
  /** The API's identifier or the route's id. */
  owner: string;
  config: PolicyStored<K>;
}

/** What policies are compiled with, shared by every route of one gateway. */
export interface CompileContext {
  /** ISSUER: subjects of Gatehouse's own tokens are counted as they are, others with their issuer. */
  issuer: string;
  /** TRUST_PROXY hops: which X-Forwarded-For entry is the client's address. */
  trustedHops: number;
  rateLimits: RateLimitStore;
  minter: SignedTokenMinter;
  outbound: OutboundTokenProvider;
  /** Downstream token exchange at Gatehouse's token endpoint (token_exchange). */
  exchanger: TokenExchanger;
}

/**
 * Compiles a policy for one route. For a policy that combines "replace", `attachments` has one entry (the
 * route's, else the API's); for "add", the API's then the route's.
 */
export type PolicyCompiler<K extends PolicyId> = (attachments: Attachment<K>[], route: { id: string; apiIdentifier: string; public: boolean }, context: CompileContext) => PolicyHandler;

/** A route's compiled policies: its handlers per stage, in pipeline order, and what they own. */
export interface CompiledPolicies {
  /** Every handler, in pipeline order. */
  handlers: readonly PolicyHandler[];
  preflight: PolicyHandler | undefined;
  match: readonly PolicyHandler[];
  authorize: readonly PolicyHandler[];
  mutate: readonly PolicyHandler[];
  respond: readonly PolicyHandler[];
  /** headerKey() names of client headers the backend never receives from the client. */
  ownedHeaders: ReadonlySet<string>;
  /** Lower-case names of request headers whose values are secrets. */
  secretHeaders: ReadonlySet<string>;
}
