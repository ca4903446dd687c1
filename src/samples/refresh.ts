// Refresh (RFC 6749 §6): a refresh token gets new tokens without the user. Gatehouse rotates refresh
// tokens: each use returns a new one, and the old one stops working (after a short grace for a lost
// response). The first tokens come from the password grant so that this sample needs no browser.
import * as oidc from "openid-client";
import { passwordTokens } from "./password.ts";
import { SampleError, type Flow } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

export const refresh: Flow = {
  name: "refresh",
  grant: "refresh_token",
  description: "new tokens from a refresh token, rotated on every use (first tokens by password: --username, --password-stdin)",
  interactive: false,
  async run(context) {
    const { client, api, username, tokens } = await passwordTokens(context, "refresh", { refresh: true });
    if (!tokens.refresh_token) throw new SampleError("Gatehouse issued no refresh token (is offline_access allowed for the client?)");
    context.say("refreshing");
    const refreshed = await oidc.refreshTokenGrant(client.config, tokens.refresh_token, { resource: api.identifier });
    return {
      client_id: client.clientId,
      api: api.identifier,
      username,
      first: describeTokens(tokens),
      refreshed: describeTokens(refreshed),
      refresh_token_rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== tokens.refresh_token,
    };
  },
};
