// The authenticators, keyed by the id an API names in its tokenCheck setting.
import type { ApiRecord } from "../../storage/repositories/apis.ts";
import type { Principal } from "../types.ts";
import type { IntrospectionAuthenticator } from "./introspection.ts";
import type { JwtAuthenticator } from "./jwt.ts";

export { extractBearerToken, type BearerToken } from "./bearer-token.ts";
export { IntrospectionAuthenticator, type IntrospectionAuthenticatorOptions } from "./introspection.ts";
export { JwtAuthenticator, type JwtAuthenticatorOptions } from "./jwt.ts";
export { VerifiedTokenCache, type VerifiedTokenCacheOptions } from "../../shared/verified-token-cache.ts";

export type Authenticate = (token: string, api: ApiRecord) => Promise<Principal>;

export interface Authenticators {
  jwt: JwtAuthenticator;
  /** Absent when the gateway has no introspection client configured. */
  introspection: IntrospectionAuthenticator | undefined;
}

/** Throws (a configuration error, not a request error) when the API asks for an authenticator that is not configured. */
export function authenticatorFor(api: ApiRecord, authenticators: Authenticators): Authenticate {
  const authenticator = authenticators[api.tokenCheck];
  if (!authenticator) throw new Error(`API ${api.identifier} checks tokens by ${api.tokenCheck}, which is not configured`);
  return (token, forApi) => authenticator.authenticate(token, forApi);
}
