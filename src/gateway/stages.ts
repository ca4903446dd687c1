// The pipeline's stages wired to what they need — the JWT and introspection authenticators — and what
// the policies are compiled with — the signer of identity tokens, the outbound OAuth token provider,
// the rate limits' store — in one place, so the gateway's server (app.ts) and the console's
// explanation of a request (explain.ts) decide exactly alike.
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import { log } from "../shared/logger.ts";
import { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import type { RemoteKeySets } from "../shared/remote-key-sets.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import { authenticatorFor } from "./authenticators/index.ts";
import { DpopNonces, DpopVerifier, type ReplayStore } from "./authenticators/dpop.ts";
import { dpopNonceSecret } from "../config/secrets.ts";
import { IntrospectionAuthenticator } from "./authenticators/introspection.ts";
import { JwtAuthenticator } from "./authenticators/jwt.ts";
import { gatewayClientCredentials } from "./internal-client.ts";
import { OutboundTokenProvider } from "./mutators/outbound-oauth.ts";
import { SignedTokenMinter, type SigningKey } from "./mutators/signed-token.ts";
import { TokenExchanger } from "./mutators/token-exchange.ts";
import { createStages } from "./pipeline.ts";
import type { CompileContext } from "./policies/index.ts";
import type { RateLimitStore } from "./policies/rate-limit-store.ts";
import type { RouteTable } from "./rules/route-table.ts";

/** Gatehouse's public keys (for verifying its tokens) and its active private key (for signed identity tokens). */
export interface GatewayKeys {
  publicJwks: { keys: Record<string, unknown>[] };
  active: SigningKey;
}

export async function loadGatewayKeys(services: Services): Promise<GatewayKeys> {
  const { keys } = await services.keys.privateJwks();
  const [active] = keys;
  const publicJwks = { keys: keys.map(({ d, p, q, dp, dq, qi, key_ops, ...pub }) => pub as Record<string, unknown>) };
  log.debug("gateway loaded signing keys", { kids: publicJwks.keys.map((k) => k.kid) });
  return { publicJwks, active: { kid: active!.kid!, alg: active!.alg!, jwk: active! } };
}

export interface StageWiring {
  config: Config;
  revocations: RevocationList;
  remoteKeySets: RemoteKeySets;
  keyEncryptionSecret: string;
  /** The current route table and keys; return the same objects until they change. */
  routes: () => RouteTable;
  keys: () => GatewayKeys;
  /** Where rate limits count. */
  rateLimits: RateLimitStore;
  /** Where DPoP proofs' jti are remembered for every instance (storage.replays); absent: this process only. */
  replays?: ReplayStore;
}

/** The stages, and what the route table's policies are compiled with. */
export interface GatewayWiring {
  stages: ReturnType<typeof createStages>;
  policies: CompileContext;
}

export function wireStages(wiring: StageWiring): GatewayWiring {
  const { config } = wiring;
  const jwt = new JwtAuthenticator({
    ownTokens: new OwnAccessTokens({ issuer: config.ISSUER, keys: () => wiring.keys().publicJwks, revocations: wiring.revocations, clockToleranceSeconds: config.GATEWAY_CLOCK_SKEW }),
    clockToleranceSeconds: config.GATEWAY_CLOCK_SKEW,
    remoteKeySets: wiring.remoteKeySets,
  });
  const credentials = gatewayClientCredentials(config);
  const introspection = new IntrospectionAuthenticator({
    endpoint: config.GATEWAY_INTROSPECTION_URL ?? `${config.ISSUER}/introspect`,
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    cacheTtlSeconds: config.GATEWAY_INTROSPECTION_CACHE_TTL,
    timeoutMs: 5000,
    revocations: wiring.revocations,
  });
  const stages = createStages({
    routes: wiring.routes,
    authenticate: (token, api) => authenticatorFor(api, { jwt, introspection })(token, api),
    cachedPrincipal: (token, api) => (api.tokenCheck === "jwt" ? jwt.cached(token, api) : undefined),
    dpop: {
      verifier: new DpopVerifier({ maxAgeSeconds: config.GATEWAY_DPOP_PROOF_MAX_AGE, clockToleranceSeconds: config.GATEWAY_CLOCK_SKEW, replays: wiring.replays, nonces: new DpopNonces(() => dpopNonceSecret(config)) }),
      trustedHops: config.TRUST_PROXY,
    },
  });
  const policies: CompileContext = {
    issuer: config.ISSUER,
    trustedHops: config.TRUST_PROXY,
    rateLimits: wiring.rateLimits,
    minter: new SignedTokenMinter({ issuer: config.ISSUER, ttlSeconds: config.GATEWAY_SIGNED_TOKEN_TTL, activeKey: () => wiring.keys().active }),
    outbound: new OutboundTokenProvider({ keyEncryptionSecret: wiring.keyEncryptionSecret, env: process.env }),
    exchanger: new TokenExchanger({ tokenUrl: config.GATEWAY_TOKEN_URL ?? `${config.ISSUER}/token`, clientId: credentials.clientId, clientSecret: credentials.clientSecret }),
  };
  return { stages, policies };
}
