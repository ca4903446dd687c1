// Calling an API through Gatehouse's gateway with a token: the gateway checks the token and its scopes,
// then forwards to the backend with who is calling in X-Gatehouse-* headers. Without --api and --path the
// sample starts a tiny backend of its own on loopback, routes /gatehouse-sample of the sample API to it,
// and shows what that backend received; with them it calls an existing route.
import crypto from "node:crypto";
import { clientCredentialsToken } from "./client-credentials.ts";
import { startLoopbackServer, type LoopbackServer } from "./loopback.ts";
import { untilPropagated } from "./register.ts";
import { SampleError, reason, type Flow, type SampleContext } from "./sample.ts";
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

/** One call through the gateway: status, the WWW-Authenticate challenge if any, and the body (JSON when it is). */
async function call(url: string, token?: string): Promise<{ status: number; challenge: string | null; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (error) {
    throw new SampleError(`cannot reach the gateway at ${url}: ${reason(error)} (is it running? use --gateway for another address)`);
  }
  const text = await response.text();
  let body: unknown = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: shown as text
  }
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body };
}

/**
 * Routes the sample path of the sample API to a fresh echo backend and calls it through the gateway
 * until the gateway has loaded the route (the answer carries this run's id).
 */
async function callOwnRoute(context: SampleContext, api: string, scopes: string[], token: string) {
  const run = crypto.randomUUID();
  const backend = await startEchoBackend(context.options.port, run);
  try {
    const { route, outcome } = await context.services.routes.apply(api, { path_prefix: SAMPLE_ROUTE, upstream: backend.url, scopes: { "*": { all_of: scopes } } });
    context.registered(`route ${SAMPLE_ROUTE} of ${api} to ${backend.url} (${outcome}, id ${route.id})`);
    const url = `${context.gatewayUrl}${SAMPLE_ROUTE}/hello?from=gatehouse-sample`;
    context.say(`calling ${url} through the gateway`);
    const answer = await untilPropagated(
      context,
      async () => {
        const result = await call(url, token);
        const echoed = result.body as Partial<EchoAnswer> | undefined;
        return result.status === 200 && echoed?.run === run ? { value: result } : { why: `last answer ${result.status} ${JSON.stringify(result.body)}` };
      },
      `the gateway at ${context.gatewayUrl} did not forward ${SAMPLE_ROUTE} to the sample's backend`,
    );
    const withoutToken = await call(url);
    return { url, with_token: answer, without_token: withoutToken };
  } finally {
    await backend.close();
  }
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
