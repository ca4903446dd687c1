// The reference point of the token benchmark: a bare oidc-provider with its default in-memory adapter,
// one static client with a plaintext secret, and the same token formats as Gatehouse (RFC 9068 JWT
// access tokens signed with ES256 for AUDIENCE, opaque ones for OPAQUE_AUDIENCE), so the difference
// measured is what Gatehouse adds. Started by token.ts as a child process; everything comes from the
// environment. Besides the provider's own endpoints it answers POST /bench/refresh-tokens?count=N with N
// new refresh tokens for AUDIENCE (its in-memory store is only reachable from inside): oidc-provider has
// no grant that issues refresh tokens without a user signing in.
import http from "node:http";
import Provider, { type JWK } from "oidc-provider";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bare-provider: ${name} is not set`);
  return value;
}

const port = Number(required("PORT"));
const audience = required("AUDIENCE");
const opaqueAudience = required("OPAQUE_AUDIENCE");
const scope = required("SCOPE");
const clientId = required("CLIENT_ID");
const accessTokenTTL = Number(required("ACCESS_TOKEN_TTL"));

const provider = new Provider(required("ISSUER"), {
  clients: [
    {
      client_id: clientId,
      client_secret: required("CLIENT_SECRET"),
      grant_types: ["client_credentials", "refresh_token"],
      redirect_uris: [],
      response_types: [],
      scope,
      // The only key is ES256; the default (RS256) would make the client invalid.
      id_token_signed_response_alg: "ES256",
    },
  ],
  scopes: [scope],
  // Gatehouse's paths, so one load fits both.
  routes: { introspection: "/introspect" },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf?.[0] ?? audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) =>
        indicator === opaqueAudience
          ? { scope, audience: opaqueAudience, accessTokenFormat: "opaque", accessTokenTTL }
          : { scope, audience, accessTokenFormat: "jwt", accessTokenTTL, jwt: { sign: { alg: "ES256" } } },
    },
  },
  // As Gatehouse does: refresh tokens for clients allowed the grant, and every refresh rotates them.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
  rotateRefreshToken: true,
  ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL },
  jwks: { keys: [JSON.parse(required("SIGNING_JWK")) as JWK] },
});

/** Refresh tokens for AUDIENCE, each of its own grant, as an authorization code exchange would leave them. */
async function refreshTokens(count: number): Promise<string[]> {
  const client = (await provider.Client.find(clientId))!;
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const grant = new provider.Grant({ accountId: `bench-user-${i}`, clientId });
    grant.addResourceScope(audience, scope);
    const grantId = await grant.save();
    const token = new provider.RefreshToken({ accountId: `bench-user-${i}`, client, grantId, gty: "authorization_code", scope, resource: audience, rotations: 0 });
    tokens.push(await token.save());
  }
  return tokens;
}

const handle = provider.callback();
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://bench");
  if (req.method !== "POST" || url.pathname !== "/bench/refresh-tokens") return void handle(req, res);
  refreshTokens(Math.min(Number(url.searchParams.get("count")) || 1, 1000)).then(
    (tokens) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(tokens)),
    (error: unknown) => res.writeHead(500).end(String(error)),
  );
});
server.listen(port, "127.0.0.1");

process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
