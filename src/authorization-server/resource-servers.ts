// An API as oidc-provider sees a resource server (RFC 8707): the audience of its access tokens, their
// format (RFC 9068 JWT or opaque), lifetime and scopes. Used by the resource indicators feature and by
// Gatehouse's own grants (grants/issue.ts).
//
// Who may have a token for an API: a client registered for at least one of the API's scopes, on every
// grant (authorization code at /authorize and /token, refresh, client credentials, device, and
// Gatehouse's own grants). Anyone else naming the API in `resource` gets invalid_target, instead of a
// token with the API's audience and no scope, which a route without scope rules would accept.
import { errors, type KoaContextWithOIDC, type ResourceServer } from "oidc-provider";
import type { ApiRecord } from "../storage/index.ts";
import type { Catalog } from "./catalog.ts";

const words = (value: unknown) => (typeof value === "string" ? value.split(" ").filter(Boolean) : []);

/** A client as the checks need it: its id and, as oidc-provider knows it, its scope metadata. */
export interface ClientIdentity {
  clientId: string;
  scope?: string;
}

/** The scopes the client is registered for (the catalog's record; oidc-provider's metadata for a client it does not hold). */
function registeredScopes(catalog: Catalog, client: ClientIdentity): string[] {
  return catalog.client(client.clientId)?.scopes ?? words(client.scope);
}

/** The scopes of api the client is registered for: what a request without scope gets of it. */
export function clientScopesOf(catalog: Catalog, client: ClientIdentity, api: ApiRecord): string[] {
  const registered = new Set(registeredScopes(catalog, client));
  return api.scopes.filter((scope) => registered.has(scope));
}

/**
 * The rule: a client may get an access token for an API only if it is registered for at least one of
 * that API's scopes.
 * @throws errors.InvalidTarget "this client may not request tokens for <resource>"
 */
export function assertClientMayTarget(catalog: Catalog, client: ClientIdentity, api: ApiRecord): void {
  if (clientScopesOf(catalog, client, api).length === 0) {
    throw new errors.InvalidTarget(`this client may not request tokens for ${api.identifier}`);
  }
}

/**
 * The resourceIndicators.getResourceServerInfo configuration function; oidc-provider calls it for every
 * resource a request names or is given by default, on every grant, before anything is issued. It
 * refuses a client that may not have tokens for the API (assertClientMayTarget). And a client credentials
 * request without scope asks for everything the client may have of the API (RFC 6749 §3.3 default
 * scope, as Gatehouse's own grants do): oidc-provider's grant reads the scope parameter only after this,
 * so that is where it is filled in.
 * @param activeAlg the algorithm of the active signing key, for JWT access tokens
 * @param ctx the request (oidc-provider's getResourceServerInfo passes it; Gatehouse's grants theirs)
 * @throws errors.InvalidTarget for an identifier that is not a registered API, or one this client may not have
 */
export async function resourceServerInfo(catalog: Catalog, indicator: string, activeAlg: string, ctx: KoaContextWithOIDC): Promise<ResourceServer> {
  const api = await catalog.findApi(indicator);
  if (!api) throw new errors.InvalidTarget("unknown resource indicator");
  const client = ctx?.oidc?.client;
  if (client) {
    assertClientMayTarget(catalog, client, api);
    const params = ctx.oidc.params as Record<string, unknown> | undefined;
    if (ctx.oidc.route === "token" && params?.grant_type === "client_credentials" && params.scope === undefined) {
      params.scope = clientScopesOf(catalog, client, api).join(" ");
    }
  }
  return resourceServerOf(api, activeAlg);
}

/**
 * An API as oidc-provider's ResourceServer: its audience, scopes, token format and lifetime (seconds).
 * Who may have its tokens is the caller's to check first.
 * @param activeAlg the algorithm of the active signing key, for JWT access tokens
 */
export function resourceServerOf(api: ApiRecord, activeAlg: string): ResourceServer {
  return {
    scope: api.scopes.join(" "),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl,
    accessTokenFormat: api.tokenFormat,
    ...(api.tokenFormat === "jwt" ? { jwt: { sign: { alg: activeAlg as "ES256" } } } : {}),
  };
}
