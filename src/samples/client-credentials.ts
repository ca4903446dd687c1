// Client credentials (RFC 6749 §4.4): a service with its own secret gets a token for an API, no user
// involved. The revoke, token info and gateway samples start from such a token too.
import * as oidc from "openid-client";
import { sampleApi, sampleClient, type SampleApi, type SampleClient } from "./register.ts";
import type { Flow, SampleContext } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

export interface ServiceToken {
  client: SampleClient;
  api: SampleApi;
  accessToken: string;
  response: oidc.TokenEndpointResponse;
}

/**
 * Registers `sample-<flow>` for client credentials on the sample API (or --api) and gets a token for
 * every scope of that API.
 */
export async function clientCredentialsToken(context: SampleContext, flow: string): Promise<ServiceToken> {
  const api = await sampleApi(context);
  const client = await sampleClient(context, flow, { grant_types: ["client_credentials"], scopes: api.scopes });
  context.say(`asking ${context.issuer} for a client credentials token for ${api.identifier}`);
  const response = await oidc.clientCredentialsGrant(client.config, { scope: api.scopes.join(" "), resource: api.identifier });
  return { client, api, accessToken: response.access_token, response };
}

export const clientCredentials: Flow = {
  name: "client-credentials",
  grant: "client_credentials",
  description: "a service calls an API as itself (no user): its client secret for an access token",
  interactive: false,
  async run(context) {
    const { client, api, response } = await clientCredentialsToken(context, "client-credentials");
    return { client_id: client.clientId, api: api.identifier, tokens: describeTokens(response) };
  },
};
