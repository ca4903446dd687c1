// An API as oidc-provider sees a resource server (RFC 8707): the audience of its access tokens, their
// format (RFC 9068 JWT or opaque), lifetime and scopes. Used by the resource indicators feature and by
// Gatehouse's own grants (grants/issue.ts).
import { errors, type ResourceServer } from "oidc-provider";
import type { Catalog } from "./catalog.ts";

/**
 * @param activeAlg the algorithm of the active signing key, for JWT access tokens
 * @throws errors.InvalidTarget for an identifier that is not a registered API
 */
export async function resourceServerInfo(catalog: Catalog, indicator: string, activeAlg: string): Promise<ResourceServer> {
  const api = await catalog.findApi(indicator);
  if (!api) throw new errors.InvalidTarget("unknown resource indicator");
  return {
    scope: api.scopes.join(" "),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl,
    accessTokenFormat: api.tokenFormat,
    ...(api.tokenFormat === "jwt" ? { jwt: { sign: { alg: activeAlg as "ES256" } } } : {}),
  };
}
