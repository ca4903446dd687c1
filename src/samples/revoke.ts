// Revocation (RFC 7009): a client ends a token it holds, say when its user signs out. Gatehouse's access
// tokens are JWTs: revoking one puts its id on a revocation list that introspection and every gateway
// consult until it would have expired. The sample shows introspection (RFC 7662) before and after.
import * as oidc from "openid-client";
import { clientCredentialsToken } from "./client-credentials.ts";
import { SampleError, type Flow } from "./sample.ts";
import { describeAccessToken } from "./tokens.ts";

export const revoke: Flow = {
  name: "revoke",
  grant: "revocation (RFC 7009)",
  description: "end a token before it expires; introspection shows it active, then not",
  interactive: false,
  async run(context) {
    const { client, api, accessToken } = await clientCredentialsToken(context, "revoke");
    const before = await oidc.tokenIntrospection(client.config, accessToken);
    context.say("revoking the access token");
    await oidc.tokenRevocation(client.config, accessToken, { token_type_hint: "access_token" });
    const after = await oidc.tokenIntrospection(client.config, accessToken);
    if (after.active) throw new SampleError("the revoked token is still active at introspection");
    return {
      client_id: client.clientId,
      api: api.identifier,
      access_token: describeAccessToken(accessToken),
      introspection_before: before,
      revoked: true,
      introspection_after: after,
    };
  },
};
