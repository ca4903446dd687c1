// Token info: what Gatehouse says about an access token to anyone holding it (GET /tokeninfo?access_token=…
// or POST /tokeninfo with access_token in the form body), without client authentication, as Google's
// tokeninfo does; 400 invalid_token for a token that is not active. For a resource server that has
// no client of its own, the gateway or introspection (RFC 7662, client-authenticated) are the standard ways.
import { clientCredentialsToken } from "./client-credentials.ts";
import { SampleError, reason, type Flow } from "./sample.ts";
import { describeAccessToken } from "./tokens.ts";

/** One answer of the token info endpoint: HTTP status and JSON body. */
async function tokenInfo(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new SampleError(`cannot reach ${url}: ${reason(error)}`);
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    throw new SampleError(`${url} answered ${response.status} without JSON (does this Gatehouse have a token info endpoint?)`);
  }
}

export const tokeninfo: Flow = {
  name: "tokeninfo",
  grant: "token info",
  description: "ask Gatehouse what an access token carries (GET and POST /tokeninfo), and see a bad token refused",
  interactive: false,
  async run(context) {
    const { client, api, accessToken } = await clientCredentialsToken(context, "tokeninfo");
    const endpoint = `${context.issuer}/tokeninfo`;
    context.say(`asking ${endpoint} about the token`);
    const byQuery = await tokenInfo(`${endpoint}?${new URLSearchParams({ access_token: accessToken })}`);
    const byForm = await tokenInfo(endpoint, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ access_token: accessToken }) });
    for (const answer of [byQuery, byForm]) {
      if (answer.status !== 200 || answer.body.active !== true) throw new SampleError(`${endpoint} answered ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    const tampered = `${accessToken.slice(0, -4)}AAAA`;
    const refused = await tokenInfo(`${endpoint}?${new URLSearchParams({ access_token: tampered })}`);
    return {
      client_id: client.clientId,
      api: api.identifier,
      access_token: describeAccessToken(accessToken),
      tokeninfo_get: byQuery.body,
      tokeninfo_post: byForm.body,
      tampered_token: { status: refused.status, ...refused.body },
    };
  },
};
