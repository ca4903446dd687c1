// oidc-provider consumes (rotates) the presented refresh token before it resolves the resource the new
// access token is for, so a request refused at that point (invalid_target) would burn the token and the
// client's next, correct refresh would look like reuse and revoke the whole grant. Its rotateRefreshToken
// hook runs after its own checks (client, expiry, scope, account) and right before the consumption: the
// resource checks that could still fail run there, first, so a refused request leaves the token usable.
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import type { Catalog } from "./catalog.ts";

interface RefreshTokenLike {
  resource?: string | string[];
  resourceIndicators: Set<string>;
  scopes: Set<string>;
}

/**
 * The `rotateRefreshToken` configuration function: always rotates, after checking the resource
 * indicator (RFC 8707 §2.2) the new access token will be for.
 * @throws errors.InvalidTarget when that resource was not granted, is ambiguous, or no longer exists
 */
export function checkBeforeRotation(catalog: Catalog) {
  return async function rotateRefreshToken(ctx: KoaContextWithOIDC): Promise<boolean> {
    const token = ctx.oidc.entities.RefreshToken as unknown as RefreshTokenLike | undefined;
    if (!token) return true;
    const requested = ctx.oidc.params?.resource as string | string[] | undefined;
    // As configuration.ts decides: no resource and openid among the scopes means a token for userinfo.
    const scopeParam = ctx.oidc.params?.scope;
    const scopes = typeof scopeParam === "string" ? new Set(scopeParam.split(" ")) : token.scopes;
    if (requested === undefined && scopes.has("openid")) return true;
    const resources = requested === undefined ? token.resource : requested;
    const list = resources === undefined ? [] : Array.isArray(resources) ? resources : [resources];
    if (list.length > 1) throw new errors.InvalidTarget("several resources were granted: name one with the resource parameter");
    const [resource] = list;
    if (resource === undefined) return true;
    if (requested !== undefined && !token.resourceIndicators.has(resource)) {
      throw new errors.InvalidTarget("the resource was not granted to this refresh token");
    }
    if (!(await catalog.findApi(resource))) throw new errors.InvalidTarget("unknown resource indicator");
    return true;
  };
}
