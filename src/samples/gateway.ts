// Calling an API through Gatehouse's gateway with a token: the gateway checks the token and its scopes,
// then forwards to the backend with who is calling in X-Gatehouse-* headers. Without --api and --path the
// sample starts a tiny backend of its own on loopback, routes /gatehouse-sample of the sample API to it,
// and shows what that backend received; with them it calls an existing route.
import crypto from "node:crypto";
import { clientCredentialsToken } from "./client-credentials.ts";
import { startLoopbackServer, type LoopbackServer } from "./loopback.ts";
import { untilPropagated } from "./register.ts";
import { SampleError, reason, type Flow, type SampleContext } from "./sample.ts";
import type { PoliciesInput } from "../services/policies.ts";
import { describeAccessToken } from "./tokens.ts";

/** The path prefix of the sample's own route. */
export const SAMPLE_ROUTE = "/gatehouse-sample";

/** What the sample's backend answers: who the gateway said is calling, and this run's id. */
interface EchoAnswer {
  run: string;
  method: string;
  path: string;
  identity: Record<string, string>;
}

/** A backend that answers every request with the X-Gatehouse-* headers it got, and `run`. */
function startEchoBackend(port: number, run: string): Promise<LoopbackServer> {
  return startLoopbackServer(port, ({ method, url, headers }) => {
    const identity = Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith("x-gatehouse-") && name !== "x-gatehouse-token"));
    const answer: EchoAnswer = { run, method, path: url.pathname + url.search, identity: identity as Record<string, string> };
    return { headers: { "content-type": "application/json" }, body: JSON.stringify(answer) };
  });
}

/** What a call through the gateway answered: status, the WWW-Authenticate challenge if any, the body (JSON when it is). */
export interface CallResult {
  status: number;
  challenge: string | null;
  body: unknown;
}

/** A response as the samples show it (a long body cut at 2,000 characters). */
export async function resultOf(response: Response): Promise<CallResult> {
  const text = await response.text();
  let body: unknown = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body };
}

/** One call through the gateway with a bearer token (or none). */
async function call(url: string, token?: string): Promise<CallResult> {
  let response: Response;
  try {
    response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (error) {
    throw new SampleError(`cannot reach the gateway at ${url}: ${reason(error)} (is it running? use --gateway for another address)`);
  }
  return resultOf(response);
}

/** A route of the sample's own, to a fresh echo backend. */
export interface OwnRoute {
  api: string;
  path: string;
  scopes: string[];
  policies?: PoliciesInput;
  /** How the first call is made, for the line the sample prints. */
  how: string;
}

/**
 * Routes `route.path` of its API to a fresh echo backend, makes the `first` call through the gateway
 * until the gateway has loaded the route (the answer carries this run's id), then the `second`, and
 * stops the backend.
 * @throws SampleError when the gateway cannot be reached or never forwards to the backend
 */
export async function throughOwnRoute(context: SampleContext, route: OwnRoute, first: (url: string) => Promise<CallResult>, second: (url: string) => Promise<CallResult>) {
  const run = crypto.randomUUID();
  const backend = await startEchoBackend(context.options.port, run);
  try {
    const { route: registered, outcome } = await context.services.routes.apply(route.api, {
      path_prefix: route.path,
      upstream: backend.url,
      scopes: { "*": { all_of: route.scopes } },
      ...(route.policies ? { policies: route.policies } : {}),
    });
    const attached = route.policies ? ` with the ${Object.keys(route.policies).join(", ")} policy` : "";
    context.registered(`route ${route.path} of ${route.api} to ${backend.url}${attached} (${outcome}, id ${registered.id})`);
    const url = `${context.gatewayUrl}${route.path}/hello?from=gatehouse-sample`;
    context.say(`calling ${url} through the gateway${route.how}`);
    const answer = await untilPropagated(
      context,
      async () => {
        const result = await first(url);
        const echoed = result.body as Partial<EchoAnswer> | undefined;
        return result.status === 200 && echoed?.run === run ? { value: result } : { why: `last answer ${result.status} ${JSON.stringify(result.body)}` };
      },
      `the gateway at ${context.gatewayUrl} did not forward ${route.path} to the sample's backend`,
    );
    return { url, first: answer, second: await second(url) };
  } finally {
    await backend.close();
  }
}

/** The sample's own route, called with the token and without. */
async function callOwnRoute(context: SampleContext, api: string, scopes: string[], token: string) {
  const { url, first, second } = await throughOwnRoute(context, { api, path: SAMPLE_ROUTE, scopes, how: "" }, (url) => call(url, token), (url) => call(url));
  return { url, with_token: first, without_token: second };
}

export const gateway: Flow = {
  name: "gateway",
  grant: "client_credentials + gateway",
  description: "call an API through the gateway with the token obtained; the backend sees who is calling",
  interactive: false,
  async run(context) {
    const { options } = context;
    if (options.path && !options.api) throw new SampleError("--path names a route of the API given with --api");
    const { client, api, accessToken } = await clientCredentialsToken(context, "gateway");
    const calls = options.path
      ? await (async () => {
          const url = `${context.gatewayUrl}${options.path}`;
          context.say(`calling ${url} through the gateway`);
          return { url, with_token: await call(url, accessToken), without_token: await call(url) };
        })()
      : await callOwnRoute(context, api.identifier, api.scopes, accessToken);
    return { client_id: client.clientId, api: api.identifier, access_token: describeAccessToken(accessToken), gateway: context.gatewayUrl, ...calls };
  },
};
