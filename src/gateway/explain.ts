// What the gateway decides for one request, and why: the pipeline's own stages (wired as the gateway
// wires them, stages.ts) run against the configuration as stored, up to forwarding. The console's
// "Try it" shows this beside the real response: the stage and reason id of a refusal (the same ones the
// gateway's decision log writes), or the identity headers and upstream URL of a request that passes.
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import { RemoteKeySets } from "../shared/remote-key-sets.ts";
import { RevocationList } from "../shared/revocation-list.ts";
import type { Storage } from "../storage/index.ts";
import { GatewayError } from "./errors.ts";
import { GatewayContext, type Stage } from "./pipeline.ts";
import { MemoryRateLimitStore } from "./policies/rate-limit-store.ts";
import { normalizePath } from "./rules/normalize-path.ts";
import { loadRouteTable } from "./rules/load-route-table.ts";
import type { RouteTable } from "./rules/route-table.ts";
import { loadGatewayKeys, wireStages } from "./stages.ts";

export interface ExplainedRequest {
  method: string;
  /** The request target's path, with an optional query (`/orders/42?x=1`). */
  target: string;
  /** The Host the request is sent with (a route may be bound to one). */
  host: string;
  token: string;
}

export interface Explanation {
  allowed: boolean;
  /** The stage that refused the request, or "forward" when every stage let it through. */
  stage: Stage;
  refusal?: { status: number; error: string; description: string; reason: string };
  route?: { id: string; api: string; path_prefix: string; host: string | null };
  principal?: { subject: string; client_id: string | null; scopes: string[] };
  /** Where the gateway sends the request. */
  upstream?: string;
  /** The identity headers the backend receives; tokens in them are not shown. */
  identity_headers: Record<string, string>;
}

const HIDDEN = "(a token, not shown)";

export interface ExplainerDeps {
  config: Config;
  storage: Storage;
  services: Services;
  keyEncryptionSecret: string;
}

export class RequestExplainer {
  private readonly deps: ExplainerDeps;
  private readonly revocations: RevocationList;
  private readonly remoteKeySets: RemoteKeySets;

  constructor(deps: ExplainerDeps) {
    this.deps = deps;
    this.revocations = new RevocationList(deps.storage);
    this.remoteKeySets = new RemoteKeySets({ cooldownSeconds: deps.config.GATEWAY_JWKS_COOLDOWN });
  }

  /**
   * Runs match → authenticate → authorize → mutate for the request, with the configuration as stored now.
   * Rate limits count in a store of their own, so an explanation never uses up anyone's requests (and
   * never sees a limit used up by the gateway's traffic).
   */
  async explain(request: ExplainedRequest): Promise<Explanation> {
    const rateLimits = new MemoryRateLimitStore();
    try {
      return await this.#explain(request, rateLimits);
    } finally {
      rateLimits.close();
    }
  }

  async #explain(request: ExplainedRequest, rateLimits: MemoryRateLimitStore): Promise<Explanation> {
    const { config, storage, services, keyEncryptionSecret } = this.deps;
    const [keys] = await Promise.all([loadGatewayKeys(services), this.revocations.sync()]);
    let table: RouteTable | undefined;
    const { stages, policies } = wireStages({ config, revocations: this.revocations, remoteKeySets: this.remoteKeySets, keyEncryptionSecret, routes: () => table!, keys: () => keys, rateLimits });
    table = await loadRouteTable(storage, policies);
    const queryAt = request.target.indexOf("?");
    const gw = new GatewayContext();
    try {
      gw.request = {
        method: request.method.toUpperCase(),
        path: normalizePath(queryAt === -1 ? request.target : request.target.slice(0, queryAt)),
        query: queryAt === -1 ? "" : request.target.slice(queryAt + 1),
        host: request.host.replace(/:\d+$/, "").toLowerCase(),
        headers: { host: request.host, authorization: `Bearer ${request.token}` },
        remoteAddress: "127.0.0.1",
      };
      await stages.decide(gw);
      gw.stage = "forward";
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      return { ...this.describe(gw), allowed: false, stage: gw.stage, refusal: { status: error.status, error: error.code, description: error.message, reason: error.reason } };
    }
    return { ...this.describe(gw), allowed: true, stage: "forward" };
  }

  private describe(gw: GatewayContext): Omit<Explanation, "allowed" | "stage" | "refusal"> {
    const compiled = gw.compiled;
    const secret = compiled?.policies.secretHeaders;
    const identity: Record<string, string> = {};
    for (const [name, value] of Object.entries(gw.target?.setHeaders ?? {})) {
      identity[name] = secret?.has(name) ? HIDDEN : value;
    }
    return {
      ...(compiled ? { route: { id: compiled.route.id, api: compiled.api.identifier, path_prefix: compiled.route.pathPrefix, host: compiled.route.host } } : {}),
      ...(gw.principal ? { principal: { subject: gw.principal.subject, client_id: gw.principal.clientId ?? null, scopes: [...gw.principal.scopes] } } : {}),
      ...(gw.target ? { upstream: `${gw.target.origin}${gw.target.path}` } : {}),
      identity_headers: identity,
    };
  }
}
