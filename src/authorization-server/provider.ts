// Builds one oidc-provider instance with Gatehouse's configuration and middleware. The HTTP server
// (server.ts) builds a new one when the signing keys change and swaps it in.
import Provider from "oidc-provider";
import type { Config } from "../config/env.ts";
import type { Actor, Services } from "../services/index.ts";
import type { Storage } from "../storage/index.ts";
import { log } from "../shared/logger.ts";
import { securityHeaders } from "../shared/security-headers.ts";
import type { Catalog } from "./catalog.ts";
import type { ClientSecretVerifier } from "./client-secrets.ts";
import type { PasswordCredentials } from "./credentials/password-check.ts";
import { buildConfiguration } from "./configuration.ts";
import { registerGrants } from "./grants/index.ts";
import { interactionRoutes } from "./interactions/index.ts";
import { protocolHardening } from "./hardening.ts";
import { protocolCorrections } from "./protocol-corrections.ts";
import { logRevocations, logSecurityEvents } from "./security-events.ts";
import type { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import type { RemoteKeySets } from "../shared/remote-key-sets.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import { structuredTokenEndpoints } from "./structured-tokens.ts";
import { clientCorsHeaders } from "./cors.ts";
import { deviceFlowGuards } from "./device-flow.ts";

export interface ProviderDeps {
  config: Config;
  storage: Storage;
  catalog: Catalog;
  secrets: ClientSecretVerifier;
  credentials: PasswordCredentials;
  /** Gatehouse's own JWT access tokens, checked in-process. */
  ownTokens: OwnAccessTokens;
  revocations: RevocationList;
  /** Other issuers' keys (JWT bearer assertions). */
  remoteKeySets: RemoteKeySets;
  jwks: { keys: Record<string, unknown>[]; activeAlg: string };
  cookieKeys: string[];
  /** Longest lifetime of any access token, for how long a revoked grant is remembered. */
  maxAccessTokenTtl: () => number;
  /** Services recording their changes under the given actor (the login page's required password change). */
  servicesAs: (actor: Actor) => Services;
}

export function buildProvider(deps: ProviderDeps): Provider {
  const { config, storage, catalog, secrets, credentials, revocations } = deps;
  let provider: Provider | undefined;
  const configuration = buildConfiguration({ ...deps, provider: () => provider! });
  provider = new Provider(config.ISSUER, configuration);
  // The outer app (server.ts, request-hygiene.ts) replaced Host and X-Forwarded-* with the issuer's host
  // and scheme and the one client address worth believing: every URL the provider builds is the issuer's.
  provider.proxy = true;
  provider.maxIpsCount = 1;

  // Secrets are stored as argon2id hashes: compare through the verifier and its cache.
  const ClientClass = provider.Client as unknown as { prototype: { compareClientSecret(actual: string): Promise<boolean> } };
  ClientClass.prototype.compareClientSecret = async function (this: { clientId: string; clientSecret: string }, actual: string) {
    // During a rotation's grace period the previous secret is accepted too.
    const client = catalog.client(this.clientId);
    const previous = client?.previousSecretHash && client.previousSecretExpiresAt && client.previousSecretExpiresAt.getTime() > Date.now() ? [client.previousSecretHash] : [];
    return secrets.verify(this.clientId, [this.clientSecret, ...previous], actual);
  };

  registerGrants(provider, { config, storage, catalog, credentials, remoteKeySets: deps.remoteKeySets, ownTokens: deps.ownTokens, activeAlg: deps.jwks.activeAlg });

  /** Refuses the grant's JWT access tokens (and tokens exchanged from it) for as long as any may live. */
  const refuseGrant = (grantId: string) => revocations.revoke("grant", grantId, new Date(Date.now() + deps.maxAccessTokenTtl() * 1000));
  provider.on("grant.revoked", (_ctx, grantId: string) => {
    refuseGrant(grantId).catch((error: unknown) => {
      log.error("could not record a revoked grant", { grantId, error: String(error) });
    });
  });
  /** Ends a grant from outside oidc-provider's own endpoints: its stored artifacts, then its JWTs. */
  const endGrant = async (grantId: string) => {
    await storage.artifacts.revokeGrant(grantId);
    await refuseGrant(grantId);
  };
  provider.on("server_error", (ctx, error) => {
    ctx.state.serverError = error;
  });
  logSecurityEvents(provider);

  provider.use(securityHeaders());
  provider.use(protocolHardening(config));
  provider.use(protocolCorrections);
  provider.use(clientCorsHeaders(catalog));
  provider.use(logRevocations);
  provider.use(structuredTokenEndpoints({ tokens: deps.ownTokens, revocations, catalog, endGrant }));
  provider.use(deviceFlowGuards(config, storage));
  provider.use(interactionRoutes({ provider, storage, catalog, config, credentials, servicesAs: deps.servicesAs }));
  return provider;
}
