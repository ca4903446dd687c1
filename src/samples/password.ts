// Resource owner password credentials (RFC 6749 §4.3, legacy): the client collects the user's password
// and trades it for tokens. RFC 9700 §2.4 says not to: use it only to migrate an old client, and the
// authorization code flow with PKCE (`gatehouse sample web`) for anything new.
import * as oidc from "openid-client";
import { sampleApi, sampleClient, type SampleApi, type SampleClient } from "./register.ts";
import { requireUser, type Flow, type SampleContext } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

export interface PasswordTokens {
  client: SampleClient;
  api: SampleApi;
  username: string;
  tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>;
}

/**
 * Registers `sample-<flow>` with the password grant (and refresh_token when `refresh`) and signs in as
 * --username: an access token for the sample API (or --api), an ID token, and a refresh token when asked.
 * @throws SampleError without --username and --password; openid-client's error (invalid_grant: the username
 *   or password is wrong) when Gatehouse refuses
 */
export async function passwordTokens(context: SampleContext, flow: string, { refresh = false } = {}): Promise<PasswordTokens> {
  const { username, password } = requireUser(context, flow);
  const api = await sampleApi(context);
  const client = await sampleClient(context, flow, {
    grant_types: refresh ? ["password", "refresh_token"] : ["password"],
    scopes: ["openid", "profile", "email", ...(refresh ? ["offline_access"] : []), ...api.scopes],
  });
  context.say(`signing in to ${context.issuer} as ${username} with the password grant`);
  const scope = ["openid", "profile", "email", ...(refresh ? ["offline_access"] : []), ...api.scopes].join(" ");
  const tokens = await oidc.genericGrantRequest(client.config, "password", { username, password, scope, resource: api.identifier });
  return { client, api, username, tokens };
}

export const passwordFlow: Flow = {
  name: "password",
  grant: "password",
  description: "legacy: the app collects the user's password (--username, --password-stdin); migrate to web or spa",
  interactive: false,
  async run(context) {
    const { client, api, username, tokens } = await passwordTokens(context, "password");
    return { client_id: client.clientId, api: api.identifier, username, tokens: describeTokens(tokens) };
  },
};
