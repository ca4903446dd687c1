// outbound_oauth: a client-credentials token from the backend's own identity provider, cached (one per
// attachment: an API's is shared by all its routes) and sent in the configured header, with one refresh
// and retry when the backend answers 401 (mutators/outbound-oauth.ts). The token's header and the
// headers to remove are owned; the token's value is a secret.
import type { OutboundAttachment } from "../mutators/outbound-oauth.ts";
import { outboundHeaderNames } from "../mutators/outbound-oauth.ts";
import type { PolicyCompiler, PolicyHandler } from "./types.ts";

export const compileOutboundOAuth: PolicyCompiler<"outbound_oauth"> = ([attachment], route, context) => {
  const config = attachment!.config;
  const outbound: OutboundAttachment = {
    // An API's attachment is one cache entry for all its routes; a route's is its own.
    key: attachment!.point === "api" ? `api ${attachment!.owner}` : `route ${attachment!.owner}`,
    api: route.apiIdentifier,
    config: {
      tokenUrl: config.token_url,
      clientId: config.client_id,
      clientSecretSealed: config.client_secret_sealed,
      authMethod: config.auth_method,
      scope: config.scope,
      resource: config.resource,
      header: config.header,
      removeHeaders: config.remove_headers,
    },
  };
  const provider = context.outbound;
  const handler: PolicyHandler = {
    id: "outbound_oauth",
    ownedHeaders: outboundHeaderNames(outbound.config),
    secretHeaders: [outbound.config.header.toLowerCase()],
    async mutate(_gw, target) {
      const headers = await provider.headersFor(outbound);
      Object.assign(target.setHeaders, headers.set);
      // One refresh however many requests the upstream rejects with the same token.
      const retry = provider.retryFor(outbound, headers);
      target.retryOnUnauthorized = async () => {
        const fresh = await retry();
        return fresh && { ...target.setHeaders, ...fresh };
      };
    },
  };
  return handler;
};
