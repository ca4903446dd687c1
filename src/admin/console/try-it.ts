// "Try it" on an API's page: a token for the chosen client, minted by the server (the console never knows
// a client's secret; short-lived and recorded in the audit log), sent through the gateway to the chosen
// route. The page shows the gateway's answer and, from the gateway's own stages run against the same
// configuration (gateway/explain.ts), the stage and reason id of a refusal or the identity headers the
// backend receives.
import http from "node:http";
import { z } from "zod";
import { RequestExplainer, type Explanation } from "../../gateway/explain.ts";
import type { Stage } from "../../gateway/pipeline.ts";
import { createServices, type Services } from "../../services/index.ts";
import { ROUTE_METHODS, type RouteResource } from "../../services/routes.ts";
import type { TrialToken } from "../../services/trial-tokens.ts";
import type { ConsoleDeps } from "./index.ts";
import { text } from "./form-fields.ts";

/** The most of the response body the page shows. */
const BODY_LIMIT = 4096;
const STAGES: Stage[] = ["match", "authenticate", "authorize", "mutate", "forward"];
/** The refusals only forwarding can give (the explanation stops before it), by the status the gateway answers. */
const FORWARD_REASONS: Record<number, { error: string; reason: string }> = {
  413: { error: "payload_too_large", reason: "body_too_large" },
  502: { error: "bad_gateway", reason: "upstream_unreachable" },
  504: { error: "gateway_timeout", reason: "upstream_timeout" },
};

export const trialForm = z.object({
  client_id: text.pipe(z.string().min(1, "pick a client")),
  route: text.pipe(z.string().min(1, "pick a route")),
  method: text.pipe(z.enum(ROUTE_METHODS, "pick a method")),
  path: text.pipe(z.string().max(2000).regex(/^(\/[^\s#]*)?$/, "a path starting with /, e.g. /orders/42")),
});

export type TrialFields = z.infer<typeof trialForm>;

interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
  /** The gateway's own JSON refusal, when the body is one. */
  refusal?: { error: string; error_description?: string; scope?: string };
}

export interface TrialResult {
  token: Omit<TrialToken, "access_token" | "token_type">;
  request: { method: string; url: string; host: string };
  response?: GatewayResponse;
  /** Why the gateway could not be reached from this process. */
  unreachable?: string;
  explanation: Explanation;
  /** The outcome shown: the explanation's, or forwarding's own refusal. */
  decision: { allowed: boolean; stage: Stage; reason?: string; error?: string; description?: string };
  /** Each stage: passed, failed or not reached. */
  stages: Array<{ stage: Stage; outcome: "passed" | "failed" | "skipped" }>;
  /** The gateway answered otherwise than its stages decide here (it has not loaded the latest change yet). */
  disagrees: boolean;
}

/** The gateway's address as seen from this process. */
function gatewayBase(deps: ConsoleDeps): { hostname: string; port: number } {
  const host = deps.config.HOST;
  return { hostname: host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host, port: deps.config.GATEWAY_PORT };
}

function send(deps: ConsoleDeps, options: { method: string; path: string; host: string; token: string; timeoutMs: number }): Promise<GatewayResponse> {
  const { hostname, port } = gatewayBase(deps);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        hostname,
        port,
        method: options.method,
        path: options.path,
        headers: { host: options.host, authorization: `Bearer ${options.token}`, accept: "application/json", "user-agent": "Gatehouse console (Try it)" },
        timeout: options.timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        response.on("data", (chunk: Buffer) => {
          if (size >= BODY_LIMIT) {
            truncated = true;
            response.destroy();
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        const done = () => {
          const body = Buffer.concat(chunks).toString("utf8").slice(0, BODY_LIMIT);
          const headers: Record<string, string> = {};
          for (const name of ["content-type", "content-length", "www-authenticate", "allow", "retry-after"]) {
            const value = response.headers[name];
            if (value !== undefined) headers[name] = String(value);
          }
          resolve({ status: response.statusCode ?? 0, headers, body, truncated: truncated || size > BODY_LIMIT, refusal: refusalOf(body) });
        };
        // "close" follows "end", and also ends a response destroyed at the body limit.
        response.on("close", done);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on("error", reject);
    request.end();
  });
}

function refusalOf(body: string): GatewayResponse["refusal"] {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (typeof parsed.error !== "string") return undefined;
    return {
      error: parsed.error,
      ...(typeof parsed.error_description === "string" ? { error_description: parsed.error_description } : {}),
      ...(typeof parsed.scope === "string" ? { scope: parsed.scope } : {}),
    };
  } catch {
    return undefined;
  }
}

function decide(explanation: Explanation, response: GatewayResponse | undefined): TrialResult["decision"] {
  if (explanation.refusal) return { allowed: false, stage: explanation.stage, ...explanation.refusal };
  const forwarding = response && FORWARD_REASONS[response.status];
  if (forwarding && response.refusal?.error === forwarding.error) {
    return { allowed: false, stage: "forward", reason: forwarding.reason, error: forwarding.error, description: response.refusal.error_description };
  }
  return { allowed: true, stage: "forward" };
}

export interface Trial {
  run(services: Services, api: string, route: RouteResource, fields: TrialFields): Promise<TrialResult>;
}

export function createTrial(deps: ConsoleDeps): Trial {
  let explainer: RequestExplainer | undefined;
  const explainerOf = () =>
    (explainer ??= new RequestExplainer({
      config: deps.config,
      storage: deps.storage,
      services: createServices(deps.storage, { keyEncryptionSecret: deps.keyEncryptionSecret, defaults: deps.config }),
      keyEncryptionSecret: deps.keyEncryptionSecret(),
    }));

  return {
    async run(services, api, route, fields) {
      const minted = await services.trialTokens.mint({ client_id: fields.client_id, api });
      const { access_token: token, token_type: _, ...tokenInfo } = minted;
      const { hostname, port } = gatewayBase(deps);
      const host = route.host ?? `${hostname}:${port}`;
      const target = fields.path || route.path_prefix;
      const explanation = await explainerOf().explain({ method: fields.method, target, host, token });
      let response: GatewayResponse | undefined;
      let unreachable: string | undefined;
      try {
        response = await send(deps, { method: fields.method, path: target, host, token, timeoutMs: Math.min(route.timeout_ms + 2000, 15_000) });
      } catch (error) {
        unreachable = (error as Error).message;
      }
      const decision = decide(explanation, response);
      const failedAt = decision.allowed ? -1 : STAGES.indexOf(decision.stage);
      const stages = STAGES.map((stage, index) => ({
        stage,
        outcome: failedAt === -1 || index < failedAt ? ("passed" as const) : index === failedAt ? ("failed" as const) : ("skipped" as const),
      }));
      const expected = explanation.refusal?.status;
      const gatewayRefused = !!response && /realm="gatehouse"/.test(response.headers["www-authenticate"] ?? "");
      const disagrees = !!response && (expected !== undefined ? response.status !== expected : gatewayRefused);
      return {
        token: tokenInfo,
        request: { method: fields.method, url: `http://${hostname}:${port}${target}`, host },
        ...(response ? { response } : {}),
        ...(unreachable ? { unreachable } : {}),
        explanation,
        decision,
        stages,
        disagrees,
      };
    },
  };
}
