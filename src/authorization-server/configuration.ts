// oidc-provider configuration: every protocol decision Gatehouse makes about the provider, in one place.
import { errors, type Configuration, type KoaContextWithOIDC, type Provider, type SigningAlgorithm } from "oidc-provider";
import type { Config } from "../config/env.ts";
import { dpopNonceSecret } from "../config/secrets.ts";
import type { Storage } from "../storage/index.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import type { Catalog } from "./catalog.ts";
import { accountFinder, CLAIMS_BY_SCOPE } from "./accounts.ts";
import { CONSOLE_CLIENT_ID } from "../admin/built-in.ts";
import { ASYMMETRIC_ALGORITHMS, SIGNING_ALGORITHMS } from "../shared/algorithms.ts";
import { authorizationServerMetrics } from "../shared/metrics.ts";
import { defaultResource } from "./default-resource.ts";
import { mayIntrospect } from "./introspection-policy.ts";
import { renderError, logoutSource, postLogoutSuccessSource } from "./provider-pages.ts";
import { deviceFlowFeature } from "./device-pages.ts";
import { checkBeforeRotation } from "./refresh-token-checks.ts";
import { clientBasedCors } from "./cors.ts";
import { resourceServerInfo } from "./resource-servers.ts";
import { TOKEN_INFO_PATH } from "./token-info.ts";
import { exchangeClaims } from "./grants/token-exchange.ts";

export interface ConfigurationDeps {
  config: Config;
  storage: Storage;
  catalog: Catalog;
  jwks: { keys: object[]; activeAlg: string };
  cookieKeys: string[];
  /** Filled in once the provider exists (loadExistingGrant needs its Grant model). */
  provider: () => Provider;
  /** This process's revocation list (a destroyed opaque access token goes on it). */
  revocations: RevocationList;
}

/** Lifetime of an access token for a client: the API's, else the client's, else the default. */
function accessTokenTtl(deps: ConfigurationDeps, token: { resourceServer?: { accessTokenTTL?: number } }, clientId?: string): number {
  return token.resourceServer?.accessTokenTTL ?? (clientId ? deps.catalog.client(clientId)?.accessTokenTtl : undefined) ?? deps.config.ACCESS_TOKEN_TTL;
}

export function buildConfiguration(deps: ConfigurationDeps): Configuration {
  const { config, storage, catalog } = deps;
  // Gatehouse signs with its own algorithms; it accepts any asymmetric one from clients (private_key_jwt, request objects).
  const signing = [...SIGNING_ALGORITHMS] as SigningAlgorithm[];
  const accepted = [...ASYMMETRIC_ALGORITHMS] as SigningAlgorithm[];

  return {
    adapter: storage.oidcAdapter({
      findClient: (id) => catalog.findClientMetadata(id),
      alreadyConsumed: () => new errors.InvalidGrant("grant request is invalid"),
      refreshTokenReuseGrace: (clientId) => catalog.client(clientId)?.refreshTokenReuseGrace ?? config.REFRESH_TOKEN_REUSE_GRACE,
      revokeAccessToken: (id, expiresAt) => deps.revocations.revoke("jti", id, expiresAt),
      revocations: deps.revocations,
      onAccessTokenLookup: (outcome) => authorizationServerMetrics.cacheLookup("opaque_access_token", outcome),
    }) as unknown as Configuration["adapter"],
    clients: [],
    // Gatehouse's own endpoint beside the standard ones (token-info.ts).
    discovery: { tokeninfo_endpoint: `${config.ISSUER}${TOKEN_INFO_PATH}` },
    jwks: deps.jwks as Configuration["jwks"],
    cookies: { keys: deps.cookieKeys, long: { signed: true }, short: { signed: true } },
    claims: CLAIMS_BY_SCOPE,
    // oidc-provider copies this list: server.ts rebuilds the provider when it changes.
    scopes: catalog.scopeNames(),
    findAccount: accountFinder(catalog),
    clientDefaults: {
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: deps.jwks.activeAlg as SigningAlgorithm,
    },
    // CORS at the token, userinfo, revocation and introspection endpoints: the client's own origins only.
    clientBasedCORS: clientBasedCors(catalog),
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
    enabledJWA: {
      idTokenSigningAlgValues: signing,
      clientAuthSigningAlgValues: accepted,
      requestObjectSigningAlgValues: accepted,
      userinfoSigningAlgValues: signing,
      introspectionSigningAlgValues: signing,
      authorizationSigningAlgValues: signing,
      // DPoP proofs (RFC 9449): the asymmetric algorithms the gateway accepts too (gateway/authenticators/dpop.ts).
      dPoPSigningAlgValues: [...ASYMMETRIC_ALGORITHMS],
    },
    // Implicit and hybrid (OpenID Connect) only for clients registered with the implicit grant; bare
    // OAuth "token" is not offered by oidc-provider (see protocol-corrections.ts).
    responseTypes: ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token", "none"],
    pkce: { required: () => true },
    routes: {
      authorization: "/authorize",
      token: "/token",
      userinfo: "/userinfo",
      jwks: "/jwks",
      end_session: "/logout",
      revocation: "/revoke",
      introspection: "/introspect",
      code_verification: "/device",
      device_authorization: "/device/auth",
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => mayIntrospect(catalog, client.clientId, token.clientId, (token as { aud?: unknown }).aud),
      },
      revocation: { enabled: true },
      // DPoP (RFC 9449): a token request with a DPoP proof gets tokens bound to its key (cnf.jkt, token_type
      // DPoP); a client registered with dpop_bound_access_tokens must send one. Nonces (§8) come from
      // DPOP_NONCE_SECRET, shared by every instance; DPOP_REQUIRE_NONCE makes them mandatory. A proof's jti
      // is single use (allowReplay false, in the shared store).
      dPoP: { enabled: true, nonceSecret: dpopNonceSecret(config), requireNonce: () => config.DPOP_REQUIRE_NONCE, allowReplay: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      // Device authorization (RFC 8628) for clients registered with the device_code grant: device-pages.ts, device-flow.ts.
      deviceFlow: deviceFlowFeature(catalog),
      resourceIndicators: {
        enabled: true,
        defaultResource: defaultResource(catalog) as never,
        // Without `resource`, a token request whose grant includes openid gets a token for userinfo; one
        // without openid gets the granted API's token. Ask for an API's token with resource=<identifier>.
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, indicator) => resourceServerInfo(catalog, indicator, deps.jwks.activeAlg, ctx),
      },
    },
    // The grant id travels in JWT access tokens so that revoking a grant (logout, refresh token reuse)
    // refuses its JWTs too.
    // A token from the token exchange grant adds its act and sgid (grants/token-exchange.ts).
    extraTokenClaims: (_ctx, token) => {
      const grant = "grantId" in token && token.grantId ? { gid: token.grantId } : undefined;
      const exchanged = exchangeClaims.get(token);
      return exchanged ? { ...grant, ...exchanged } : grant;
    },
    // Revoking an access token (RFC 7009) ends its whole grant: oidc-provider already deletes the grant's
    // other stored tokens then; ending the grant refuses its JWT access tokens, and the tokens exchanged
    // from it (sgid), too.
    revokeGrantPolicy: () => true,
    // Consent is remembered per user and client across sessions (see interactions/consent.ts).
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { Grant } = deps.provider();
      const clientId = ctx.oidc.client!.clientId;
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(clientId);
      if (grantId) {
        const grant = await Grant.find(grantId);
        if (grant) return grant;
      }
      // Gatehouse's own console is first-party: signing in to it asks for no consent.
      if (clientId === CONSOLE_CLIENT_ID && ctx.oidc.session?.accountId) {
        const grant = new Grant({ accountId: ctx.oidc.session.accountId, clientId });
        grant.addOIDCScope("openid profile");
        await grant.save();
        return grant;
      }
      const accountId = ctx.oidc.session?.accountId;
      const consent = accountId ? await storage.consents.find(accountId, clientId) : null;
      if (!accountId || !consent) return undefined;
      const grant = new Grant({ accountId, clientId });
      if (consent.scopes.length) grant.addOIDCScope(consent.scopes.join(" "));
      if (consent.claims.length) grant.addOIDCClaims(consent.claims);
      for (const [indicator, scopes] of Object.entries(consent.resources)) grant.addResourceScope(indicator, scopes.join(" "));
      await grant.save();
      return grant;
    },
    rotateRefreshToken: checkBeforeRotation(catalog),
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    ttl: {
      AccessToken: (_ctx, token, client) => accessTokenTtl(deps, token, client?.clientId),
      ClientCredentials: (_ctx, token, client) => accessTokenTtl(deps, token, client?.clientId),
      IdToken: (_ctx, _token, client) => catalog.client(client.clientId)?.idTokenTtl ?? config.ID_TOKEN_TTL,
      RefreshToken: (_ctx, _token, client) => catalog.client(client.clientId)?.refreshTokenTtl ?? config.REFRESH_TOKEN_TTL,
      AuthorizationCode: config.AUTHORIZATION_CODE_TTL,
      Session: config.SESSION_TTL,
      Grant: config.SESSION_TTL,
      Interaction: 3600,
      DeviceCode: 600,
    },
    renderError,
  };
}
