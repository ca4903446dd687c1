// DPoP (RFC 9449): a token bound to a key the client holds, useless to whoever steals it without that
// key. The sample registers `sample-dpop` with dpop_bound_access_tokens (its tokens are always bound),
// makes a key pair, gets a client credentials token with a DPoP proof (openid-client answers a server
// nonce on its own), and calls the gateway with `Authorization: DPoP <token>` and a fresh proof per
// request. Without --api and --path it routes /gatehouse-sample-dpop of the sample API, with the dpop
// policy (bound tokens only), to a tiny backend of its own; then it shows that the same token sent as a
// plain Bearer token is refused.
import * as oidc from "openid-client";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { resultOf, throughOwnRoute, type CallResult } from "./gateway.ts";
import { sampleApi, sampleClient } from "./register.ts";
import { SampleError, reason, type Flow, type SampleContext } from "./sample.ts";
import { describeAccessToken } from "./tokens.ts";

/** The path prefix of the sample's own route. */
export const DPOP_SAMPLE_ROUTE = "/gatehouse-sample-dpop";

/**
 * One call with the DPoP scheme and a fresh proof (openid-client's fetchProtectedResource), or, with
 * `asBearer`, the same token sent as a plain bearer token.
 * @throws SampleError when the gateway cannot be reached
 */
async function call(config: oidc.Configuration, url: string, token: string, dpop: oidc.DPoPHandle | undefined): Promise<CallResult> {
  try {
    if (!dpop) return await resultOf(await fetch(url, { headers: { authorization: `Bearer ${token}` } }));
    return await resultOf(await oidc.fetchProtectedResource(config, token, new URL(url), "GET", undefined, undefined, { DPoP: dpop }));
  } catch (error) {
    // openid-client reads a 401 with a DPoP challenge as an error: show it as the answer it is.
    if (error instanceof oidc.WWWAuthenticateChallengeError) return resultOf(error.response);
    throw new SampleError(`cannot reach the gateway at ${url}: ${reason(error)} (is it running? use --gateway for another address)`);
  }
}

/** The sample's own route with the dpop policy, called with a proof and then as a plain bearer token. */
async function callOwnRoute(context: SampleContext, config: oidc.Configuration, api: string, scopes: string[], token: string, dpop: oidc.DPoPHandle) {
  const route = { api, path: DPOP_SAMPLE_ROUTE, scopes, policies: { dpop: { required: true } }, how: " with Authorization: DPoP and a proof" };
  const { url, first, second } = await throughOwnRoute(context, route, (url) => call(config, url, token, dpop), (url) => call(config, url, token, undefined));
  return { url, with_dpop: first, as_bearer: second };
}

export const dpop: Flow = {
  name: "dpop",
  grant: "client_credentials + DPoP",
  description: "a token bound to the client's key (RFC 9449): each call through the gateway proves possession of that key",
  interactive: false,
  async run(context) {
    const { options } = context;
    if (options.path && !options.api) throw new SampleError("--path names a route of the API given with --api");
    const api = await sampleApi(context);
    const client = await sampleClient(context, "dpop", { grant_types: ["client_credentials"], scopes: api.scopes, dpop_bound_access_tokens: true });
    const keyPair = await oidc.randomDPoPKeyPair("ES256");
    const handle = oidc.getDPoPHandle(client.config, keyPair);
    context.say(`asking ${context.issuer} for a DPoP-bound client credentials token for ${api.identifier}`);
    let response: oidc.TokenEndpointResponse;
    try {
      response = await oidc.clientCredentialsGrant(client.config, { scope: api.scopes.join(" "), resource: api.identifier }, { DPoP: handle });
    } catch (error) {
      throw new SampleError(reason(error));
    }
    const token = response.access_token;
    const summary = describeAccessToken(token);
    const calls = options.path
      ? await (async () => {
          const url = `${context.gatewayUrl}${options.path}`;
          context.say(`calling ${url} through the gateway with Authorization: DPoP and a proof`);
          return { url, with_dpop: await call(client.config, url, token, handle), as_bearer: await call(client.config, url, token, undefined) };
        })()
      : await callOwnRoute(context, client.config, api.identifier, api.scopes, token, handle);
    return {
      client_id: client.clientId,
      api: api.identifier,
      token_type: response.token_type,
      key_thumbprint: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)),
      cnf: summary.format === "jwt" ? summary.claims.cnf : "(opaque token: see its introspection)",
      access_token: summary,
      gateway: context.gatewayUrl,
      ...calls,
    };
  },
};
