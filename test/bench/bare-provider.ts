// The reference point of the token benchmark: a bare oidc-provider with its default in-memory adapter,
// one static client with a plaintext secret, and the same token format as Gatehouse (RFC 9068 JWT
// access tokens signed with ES256), so the difference measured is what Gatehouse adds. Started by
// token.ts as a child process; everything comes from the environment.
import http from "node:http";
import Provider, { type JWK } from "oidc-provider";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bare-provider: ${name} is not set`);
  return value;
}

const port = Number(required("PORT"));
const audience = required("AUDIENCE");
const scope = required("SCOPE");
const accessTokenTTL = Number(required("ACCESS_TOKEN_TTL"));

const provider = new Provider(required("ISSUER"), {
  clients: [
    {
      client_id: required("CLIENT_ID"),
      client_secret: required("CLIENT_SECRET"),
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      scope,
      // The only key is ES256; the default (RS256) would make the client invalid.
      id_token_signed_response_alg: "ES256",
    },
  ],
  scopes: [scope],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: () => ({ scope, audience, accessTokenFormat: "jwt", accessTokenTTL, jwt: { sign: { alg: "ES256" } } }),
    },
  },
  ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL },
  jwks: { keys: [JSON.parse(required("SIGNING_JWK")) as JWK] },
});

const server = http.createServer(provider.callback());
server.listen(port, "127.0.0.1");

process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
