// Turns a stored client into the metadata oidc-provider validates and serves. Disabled clients do not
// exist for the provider. The argon2id hash stands in for client_secret: oidc-provider requires the
// property for secret-based methods, and client-secrets.ts replaces its comparison with argon2 verification.
import type { ClientRecord } from "../storage/index.ts";
import type { AdapterPayload } from "../storage/index.ts";
import { STANDARD_SCOPES } from "../services/scopes.ts";

export function clientMetadata(client: ClientRecord | undefined): AdapterPayload | undefined {
  if (!client || !client.enabled) return undefined;
  const metadata: AdapterPayload = {
    client_id: client.clientId,
    client_name: client.name,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.grantTypes,
    response_types: client.responseTypes,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    application_type: client.applicationType,
    scope: [...new Set([...STANDARD_SCOPES, ...client.scopes])].join(" "),
  };
  if (client.dpopBoundAccessTokens) metadata.dpop_bound_access_tokens = true;
  if (client.secretHash) metadata.client_secret = client.secretHash;
  if (client.jwks) metadata.jwks = client.jwks;
  if (client.jwksUri) metadata.jwks_uri = client.jwksUri;
  return metadata;
}
