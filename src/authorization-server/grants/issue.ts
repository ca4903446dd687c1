// Tokens for Gatehouse's own grants (password, JWT bearer, SAML 2.0 bearer), built from oidc-provider's
// models as its built-in grants build them, so they behave the same everywhere afterwards: a Grant
// (revoking it ends every token it issued; its id is the JWT's gid), an access token for the API the
// request names (RFC 8707; JWT or opaque per the API) or for userinfo, a refresh token when
// offline_access is asked for and allowed, and an ID token when openid is.
import { errors, type Account, type KoaContextWithOIDC } from "oidc-provider";
import { invalidGrant } from "./invalid-grant.ts";
import type { Catalog } from "../catalog.ts";
import { assertClientMayTarget, resourceServerInfo } from "../resource-servers.ts";
import type { DpopBindingOptions } from "./dpop-binding.ts";

export interface Issuance {
  /** The user the tokens are for; absent for a service identity (then no refresh or ID token). */
  accountId?: string;
  /** The subject of tokens for a service identity (an assertion's sub), when there is no user. */
  subject?: string;
  /** The grant type, recorded in the tokens (gty). */
  gty: string;
  /** Scopes this way of authenticating may give at most (a trusted issuer's); undefined: no further limit. */
  mayGrant?: ReadonlySet<string>;
  /** The DPoP key's thumbprint the tokens are bound to (dpop-binding.ts); undefined: bearer tokens. */
  jkt?: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

export interface IssueDeps {
  catalog: Catalog;
  /** The algorithm of the active signing key. */
  activeAlg: () => string;
  /** The configuration's findAccount: the user's claims for the ID token. */
  findAccount: (ctx: KoaContextWithOIDC, accountId: string) => Promise<Account | undefined>;
  /** DPoP on these grants (dpop-binding.ts): the replay store, and the nonces when they are required. */
  dpop: DpopBindingOptions;
  /** resourceIndicators.defaultResource, for a request without resource. */
  defaultResource: (ctx: KoaContextWithOIDC, client: { clientId: string }) => Promise<string | string[] | undefined>;
}

const words = (value: unknown) => (typeof value === "string" ? value.split(" ").filter(Boolean) : []);

/**
 * Issues the tokens of one grant request.
 * @throws errors.InvalidScope for a scope the client, or this way of authenticating, may not have;
 *   errors.InvalidTarget for an unknown or ambiguous resource
 */
export async function issueTokens(ctx: KoaContextWithOIDC, deps: IssueDeps, issuance: Issuance): Promise<TokenResponse> {
  const { provider, client, params } = ctx.oidc as unknown as { provider: KoaContextWithOIDC["oidc"]["provider"]; client: NonNullable<KoaContextWithOIDC["oidc"]["client"]>; params: Record<string, unknown> };
  const allowed = new Set(words(client.scope));
  const mayHave = (scope: string) => allowed.has(scope) && (!issuance.mayGrant || issuance.mayGrant.has(scope));

  const indicator = params.resource ?? (await deps.defaultResource(ctx, client));
  if (Array.isArray(indicator)) throw new errors.InvalidTarget("only one resource indicator may be requested");
  const api = typeof indicator === "string" ? await deps.catalog.findApi(indicator) : undefined;
  if (typeof indicator === "string" && !api) throw new errors.InvalidTarget("unknown resource indicator");
  if (api) assertClientMayTarget(deps.catalog, client, api);

  // Without scope: everything the client (and this way of authenticating) may have of the API (RFC 6749 §3.3).
  const requested = params.scope === undefined ? (api?.scopes.filter(mayHave) ?? []) : [...new Set(words(params.scope))];
  const refused = requested.filter((scope) => !mayHave(scope));
  if (refused.length) throw new errors.InvalidScope("requested scope is not allowed", refused.join(" "));
  if (!issuance.accountId && (requested.includes("openid") || requested.includes("offline_access"))) {
    throw new errors.InvalidScope("openid and offline_access need a user; this assertion names a service", "openid offline_access");
  }
  const apiScopes = api ? requested.filter((scope) => api.scopes.includes(scope)) : [];
  const oidcScopes = requested.filter((scope) => !apiScopes.includes(scope));

  const accountId = issuance.accountId ?? issuance.subject!;
  const grant = new provider.Grant({ accountId, clientId: client.clientId });
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(" "));
  if (api) grant.addResourceScope(api.identifier, apiScopes.join(" "));
  const grantId = await grant.save();

  const at = new provider.AccessToken({ accountId, client, grantId, gty: issuance.gty });
  if (api) {
    at.resourceServer = new provider.ResourceServer(api.identifier, await resourceServerInfo(deps.catalog, api.identifier, deps.activeAlg(), ctx));
    at.scope = apiScopes.join(" ") || undefined;
  } else {
    at.scope = oidcScopes.join(" ") || undefined;
  }
  if (issuance.jkt) at.setThumbprint("jkt", issuance.jkt);
  ctx.oidc.entity("AccessToken", at);
  const accessToken = await at.save();

  // Fields in the order oidc-provider's own grants answer with.
  const answer = (extra: Pick<TokenResponse, "id_token" | "refresh_token"> = {}): TokenResponse => ({
    access_token: accessToken,
    expires_in: at.expiration,
    ...extra,
    ...(at.scope ? { scope: at.scope } : {}),
    token_type: at.tokenType,
  });
  if (!issuance.accountId) return answer();
  const extra: Pick<TokenResponse, "id_token" | "refresh_token"> = {};

  const account = await deps.findAccount(ctx, issuance.accountId);
  if (!account) throw invalidGrant("the user of this grant no longer exists");
  ctx.oidc.entity("Account", account);
  if (requested.includes("offline_access") && client.grantTypeAllowed("refresh_token")) {
    const rt = new provider.RefreshToken({
      accountId: issuance.accountId,
      client,
      grantId,
      gty: issuance.gty,
      scope: requested.join(" "),
      resource: api?.identifier,
      rotations: 0,
    });
    // A public client's refresh token is bound too (RFC 9449 §5: a confidential client's is bound by its authentication).
    // (oidc-provider has RefreshToken#setThumbprint; @types/oidc-provider does not list it.)
    if (issuance.jkt && client.clientAuthMethod === "none") (rt as unknown as { setThumbprint(prop: "jkt", input: string): void }).setThumbprint("jkt", issuance.jkt);
    extra.refresh_token = await rt.save();
  }
  if (requested.includes("openid")) {
    const idToken = new provider.IdToken({ ...(await account.claims("id_token", oidcScopes.join(" "), {}, [])), sub: issuance.accountId }, { ctx });
    // The claims released are those of the granted scopes (the configuration's claims table).
    (idToken as unknown as { scope: string }).scope = oidcScopes.join(" ");
    extra.id_token = await idToken.issue({ use: "idtoken" });
  }
  return answer({ ...(extra.id_token ? { id_token: extra.id_token } : {}), ...(extra.refresh_token ? { refresh_token: extra.refresh_token } : {}) });
}
