// The grants Gatehouse adds to oidc-provider through its registerGrantType: resource owner password
// credentials (RFC 6749 §4.3), JWT bearer (RFC 7523), SAML 2.0 bearer (RFC 7522) and token exchange
// (RFC 8693). Each is one file
// here; a client uses one only when its grant_types list it (oidc-provider refuses the others, and
// protocol-corrections.ts names that unauthorized_client).
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../../config/env.ts";
import type { Storage } from "../../storage/index.ts";
import type { RemoteKeySets } from "../../shared/remote-key-sets.ts";
import { accountFinder } from "../accounts.ts";
import type { Catalog } from "../catalog.ts";
import type { PasswordCredentials } from "../credentials/password-check.ts";
import { defaultResource } from "../default-resource.ts";
import { ASSERTION_PARAMETERS, type AssertionDeps } from "./assertion.ts";
import { JWT_BEARER, jwtBearerGrant } from "./jwt-bearer.ts";
import { PASSWORD, PASSWORD_PARAMETERS, passwordGrant } from "./password.ts";
import { SAML2_BEARER, saml2BearerGrant } from "./saml2-bearer.ts";
import { TOKEN_EXCHANGE, TOKEN_EXCHANGE_PARAMETERS, tokenExchangeGrant } from "./token-exchange.ts";
import type { OwnAccessTokens } from "../../shared/own-access-tokens.ts";
import { DpopNonces } from "../../shared/dpop-proof.ts";
import { dpopNonceSecret } from "../../config/secrets.ts";

export interface GrantDeps {
  config: Config;
  storage: Storage;
  catalog: Catalog;
  credentials: PasswordCredentials;
  remoteKeySets: RemoteKeySets;
  /** Gatehouse's own JWT access tokens (token exchange's subject and actor tokens). */
  ownTokens: OwnAccessTokens;
  /** The algorithm of the active signing key. */
  activeAlg: string;
}

/** Registers Gatehouse's grants with a freshly built provider. */
export function registerGrants(provider: Provider, deps: GrantDeps): void {
  const common: AssertionDeps = {
    storage: deps.storage,
    catalog: deps.catalog,
    activeAlg: () => deps.activeAlg,
    findAccount: accountFinder(deps.catalog),
    defaultResource: defaultResource(deps.catalog) as (ctx: KoaContextWithOIDC, client: { clientId: string }) => Promise<string | string[] | undefined>,
    clockSkewSeconds: deps.config.ASSERTION_CLOCK_SKEW,
    dpop: {
      replays: deps.storage.replays,
      ...(deps.config.DPOP_REQUIRE_NONCE ? { nonces: new DpopNonces(() => dpopNonceSecret(deps.config)) } : {}),
    },
  };
  provider.registerGrantType(PASSWORD, passwordGrant({ ...common, credentials: deps.credentials }), PASSWORD_PARAMETERS);
  provider.registerGrantType(JWT_BEARER, jwtBearerGrant({ ...common, remoteKeySets: deps.remoteKeySets }), ASSERTION_PARAMETERS);
  provider.registerGrantType(SAML2_BEARER, saml2BearerGrant(common), ASSERTION_PARAMETERS);
  provider.registerGrantType(TOKEN_EXCHANGE, tokenExchangeGrant({ ...common, ownTokens: deps.ownTokens, remoteKeySets: deps.remoteKeySets }), TOKEN_EXCHANGE_PARAMETERS);
}
