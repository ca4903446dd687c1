// Who may learn about a token by introspecting it (RFC 7662 §4: the server decides what each caller may
// see). The token's own client, the gateway's internal client, and the clients an API names as its
// resource servers (for tokens whose audience is that API) get the answer; any other caller gets
// {"active": false}, exactly as for an unknown token, so it learns nothing. Used for opaque tokens
// (oidc-provider's introspection allowedPolicy) and for JWT access tokens (structured-tokens.ts).
import { GATEWAY_CLIENT_ID } from "../gateway/internal-client.ts";
import type { Catalog } from "./catalog.ts";

/**
 * @param caller the authenticated client asking
 * @param tokenClientId the client the token was issued to
 * @param audience the token's aud claim (a string or a list), if any
 */
export function mayIntrospect(catalog: Catalog, caller: string, tokenClientId: unknown, audience: unknown): boolean {
  if (caller === tokenClientId || caller === GATEWAY_CLIENT_ID) return true;
  const audiences = typeof audience === "string" ? [audience] : Array.isArray(audience) ? audience : [];
  return audiences.some((identifier) => typeof identifier === "string" && catalog.api(identifier)?.introspectionClients.includes(caller) === true);
}
