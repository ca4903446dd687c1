// Which API a request is for when it names none (RFC 8707 resource parameter absent). A client whose
// registered scopes belong to exactly one API gets that API; otherwise a request for an API's scope
// without `resource` is refused with invalid_target naming the parameter, instead of silently getting
// an opaque token without audience that no API would accept. A request without scope (which asks for
// everything the client may have, on the grants of ALL_SCOPES_BY_DEFAULT) from a client whose scopes
// belong to several APIs names none of them: its token is for no API (no audience, no scope) until it
// says which with `resource`. Whether the client may have an API's tokens at all is resource-servers.ts's
// rule (assertClientMayTarget), applied to whatever this answers or the request names.
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import { JWT_BEARER, SAML2_BEARER } from "../services/grant-rules.ts";
import type { Catalog } from "./catalog.ts";

const words = (value: unknown) => (typeof value === "string" ? value.split(" ").filter(Boolean) : []);

/** Grants where a request without scope asks for everything the client may have (RFC 6749 §3.3 default scope). */
export const ALL_SCOPES_BY_DEFAULT = new Set(["client_credentials", "password", JWT_BEARER, SAML2_BEARER]);

/** The resourceIndicators.defaultResource configuration function. */
export function defaultResource(catalog: Catalog) {
  return async function defaultResource(ctx: KoaContextWithOIDC, client: { clientId: string }, oneOf?: string[]): Promise<string | string[] | undefined> {
    // Resources already granted (code exchange, refresh): the one, or the list (then `resource` must say which).
    if (oneOf) return oneOf.length === 1 ? oneOf[0] : oneOf;
    const apis = catalog.apis();
    const registered = new Set(catalog.client(client.clientId)?.scopes ?? []);
    const clientApis = apis.filter((api) => api.scopes.some((scope) => registered.has(scope)));
    const scopeParam = ctx.oidc.params?.scope;
    const requestedApiScopes = words(scopeParam).filter((scope) => apis.some((api) => api.scopes.includes(scope)));
    const asksForApi = requestedApiScopes.length > 0 || (ALL_SCOPES_BY_DEFAULT.has(String(ctx.oidc.params?.grant_type)) && scopeParam === undefined);
    if (!asksForApi) return undefined;
    if (clientApis.length === 1) return clientApis[0]!.identifier;
    if (requestedApiScopes.length === 0) return undefined;
    const candidates = apis.filter((api) => requestedApiScopes.some((scope) => api.scopes.includes(scope))).map((api) => api.identifier);
    throw new errors.InvalidTarget(
      `scope ${requestedApiScopes.join(" ")} belongs to an API: name it with the resource parameter (${candidates.map((c) => `resource=${c}`).join(" or ")})`,
    );
  };
}
