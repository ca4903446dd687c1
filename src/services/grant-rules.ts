// What each grant type asks of the client that lists it, in one table: whether it needs to keep a
// secret, redirect URIs (and which), another grant, which response types it brings, and a warning when
// it is weaker than the authorization code flow with PKCE (RFC 9700 §2.4, §2.1.2). Registration
// (services/clients.ts) checks a client against the rows of the grants it lists.

export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
export const SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer";
export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code";

/** Every grant type a client may be registered for. */
export const GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit", JWT_BEARER, SAML2_BEARER, DEVICE_CODE, TOKEN_EXCHANGE] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface GrantRule {
  /** Only a client that authenticates (keeps a secret or a key) may use it. */
  confidential?: true;
  /** The client needs redirect URIs; "https" when they must be https and not on loopback (tokens in a URL fragment). */
  redirects?: "any" | "https";
  /** The client must also list one of these grants. */
  requiresOneOf?: readonly GrantType[];
  /** Response types (authorization endpoint) the grant brings. */
  responseTypes?: readonly string[];
  /** Why this grant is weaker than code + PKCE; shown wherever the client is shown. */
  legacy?: string;
}

/** The grants that end with a user (and so may lead to refresh tokens). */
const USER_GRANTS: readonly GrantType[] = ["authorization_code", "password", JWT_BEARER, SAML2_BEARER, DEVICE_CODE];

export const GRANT_RULES: Readonly<Record<GrantType, GrantRule>> = {
  authorization_code: { redirects: "any", responseTypes: ["code"] },
  refresh_token: { requiresOneOf: USER_GRANTS },
  client_credentials: { confidential: true },
  password: {
    legacy:
      "the password grant hands the user's password to the client (RFC 9700 §2.4 says it must not be used); prefer the authorization code flow with PKCE",
  },
  implicit: {
    redirects: "https",
    responseTypes: ["id_token", "id_token token"],
    legacy: "the implicit flow returns tokens in the URL fragment (RFC 9700 §2.1.2 says not to use it); prefer the authorization code flow with PKCE",
  },
  [JWT_BEARER]: {},
  [SAML2_BEARER]: {},
  // Device authorization (RFC 8628): the user approves on another screen; no redirect URI, and public
  // clients (a TV, a CLI) may use it.
  [DEVICE_CODE]: {},
  // A service acting for its caller (RFC 8693): it must authenticate, and may exchange only for the APIs
  // registered as its token_exchange_targets.
  [TOKEN_EXCHANGE]: { confidential: true },
};

/** The response types of a client's grants, with the hybrid ones when it has both code and implicit. */
export function responseTypesOf(grants: readonly GrantType[]): string[] {
  const types = new Set(grants.flatMap((grant) => GRANT_RULES[grant].responseTypes ?? []));
  if (grants.includes("authorization_code") && grants.includes("implicit")) for (const hybrid of ["code id_token", "code token", "code id_token token"]) types.add(hybrid);
  return [...types];
}

/** The warnings a client with these grants carries. */
export function grantWarnings(grants: readonly string[]): string[] {
  return grants.flatMap((grant) => GRANT_RULES[grant as GrantType]?.legacy ?? []);
}
