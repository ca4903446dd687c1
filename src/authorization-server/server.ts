// The authorization server's HTTP listener: an outer Koa app (request hygiene, then Gatehouse's own
// routes, then the current oidc-provider instance). It keeps the in-memory state fresh: the catalog
// (clients, APIs, scopes), the revocation list and, when the signing keys (`gatehouse keys rotate`) or
// the set of scope names change, a rebuilt provider that is swapped in without a restart (oidc-provider
// fixes both at construction). The outer app is built once and never rebuilt.
import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa, { type Middleware } from "koa";
import type Provider from "oidc-provider";
import type { JSONWebKeySet, JWK } from "jose";
import type { Config } from "../config/env.ts";
import { createServices, type Actor, type Services } from "../services/index.ts";
import { longestAccessTokenOf } from "../services/token-lifetimes.ts";
import type { Storage } from "../storage/index.ts";
import type { ChangeFeed } from "../shared/change-feed.ts";
import { applyClientLimits, timeoutOptions, writeSocketResponse, type ClientLimits } from "../shared/client-limits.ts";
import { log, securityEvent } from "../shared/logger.ts";
import { OwnAccessTokens } from "../shared/own-access-tokens.ts";
import type { RemoteKeySets } from "../shared/remote-key-sets.ts";
import type { RevocationList } from "../shared/revocation-list.ts";
import { Catalog } from "./catalog.ts";
import { ClientSecretVerifier } from "./client-secrets.ts";
import { PasswordCredentials } from "./credentials/password-check.ts";
import { buildProvider } from "./provider.ts";
import { requestHygiene } from "./request-hygiene.ts";
import { serveAssets } from "../web/pages.ts";
import { adminRoutes } from "../admin/index.ts";
import { tokenInfoEndpoint } from "./token-info.ts";
import { authorizationServerHealth, observeProvider, requestOperations } from "../operations/authorization-server.ts";
import { closeGracefully } from "../shared/close-server.ts";

/**
 * The provider (a Koa application) mounted in the outer app as oidc-provider documents for Koa (koa-mount
 * at the root): its middleware runs on the outer app's context, so a request gets one Koa context, not two.
 * Both apps share what the provider reads from its app: proxy settings and cookie keys (set below).
 */
function mounted(provider: Provider): Middleware {
  const { middleware } = provider as unknown as { middleware: Middleware[] };
  return function mountedProvider(ctx, next) {
    const dispatch = (index: number): Promise<unknown> => (index === middleware.length ? next() : Promise.resolve(middleware[index]!(ctx, () => dispatch(index + 1))));
    return dispatch(0);
  };
}

export interface AuthorizationServerDeps {
  config: Config;
  storage: Storage;
  services: Services;
  cookieKeys: string[];
  /** KEY_ENCRYPTION_SECRET, for the admin API's and console's changes that seal (outbound secrets). */
  keyEncryptionSecret: () => string;
  /** The process's one registry of other issuers' keys (JWT bearer assertions). */
  remoteKeySets: RemoteKeySets;
  revocations: RevocationList;
  feed: ChangeFeed;
}

export interface AuthorizationServer {
  readonly catalog: Catalog;
  provider(): Provider;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export async function createAuthorizationServer(deps: AuthorizationServerDeps): Promise<AuthorizationServer> {
  const { config, storage, services, revocations } = deps;
  const catalog = new Catalog(storage);
  const secrets = new ClientSecretVerifier(config.CLIENT_SECRET_CACHE_TTL);
  const catalogLoaded = await catalog.refresh({ force: true });

  const maxAccessTokenTtl = () => longestAccessTokenOf(config, catalog.apis());

  const credentials = new PasswordCredentials(storage, config);
  const servicesAs = (actor: Actor) => createServices(storage, { keyEncryptionSecret: deps.keyEncryptionSecret, defaults: config, actor, issuer: config.ISSUER });
  let publicJwks: JSONWebKeySet = { keys: [] };
  const ownTokens = new OwnAccessTokens({ issuer: config.ISSUER, keys: () => publicJwks, revocations });
  const build = async () => {
    const jwks = await services.keys.privateJwks();
    publicJwks = { keys: jwks.keys.map(({ d, p, q, dp, dq, qi, key_ops, ...pub }) => pub as JWK) };
    return observeProvider(buildProvider({ ...deps, catalog, secrets, credentials, revocations, ownTokens, jwks, maxAccessTokenTtl, servicesAs }));
  };
  let keysVersion = (await storage.revisions.read()).keys;
  let scopeNames = catalog.scopeNames().join(" ");
  let provider = await build();
  let handle = mounted(provider);

  const app = new Koa();
  app.silent = true;
  // requestHygiene leaves exactly one trustworthy X-Forwarded-For/-Proto/-Host, built from ISSUER and TRUST_PROXY.
  app.proxy = true;
  app.maxIpsCount = 1;
  app.keys = deps.cookieKeys;
  // Operations first (operations/authorization-server.ts): request id, access log line and metrics of
  // every request; then /healthz and /readyz.
  app.use(requestOperations({ accessLogEnabled: config.ACCESS_LOG }));
  const health = authorizationServerHealth({ database: () => storage.ping(), configuration: () => catalogLoaded, signingKeys: () => publicJwks.keys.length > 0, timeoutMs: config.READINESS_TIMEOUT_MS });
  app.use(health.middleware);
  app.use(requestHygiene(config.ISSUER, config.TRUST_PROXY, { maxBodyBytes: config.MAX_BODY_BYTES }));
  app.use(serveAssets());
  app.use(tokenInfoEndpoint({ issuer: config.ISSUER, ownTokens, provider: () => provider, requestsPerMinute: config.TOKENINFO_RATE_LIMIT }));
  if (config.ADMIN_ENABLED) {
    app.use(adminRoutes({ config, storage, cookieKeys: deps.cookieKeys, keyEncryptionSecret: deps.keyEncryptionSecret, ownTokens, publicJwks: () => publicJwks, refresh: () => deps.feed.tick() }));
  }
  app.use(function provide(ctx, next) {
    return handle(ctx, next);
  });
  // The same client limits as the gateway's (shared/client-limits.ts), from their own settings.
  const limits: ClientLimits = {
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    idleTimeoutMs: config.IDLE_TIMEOUT_MS,
    maxConnectionsPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
  };
  const server = http.createServer(timeoutOptions(limits, { headersTimeout: "HEADERS_TIMEOUT_MS", requestTimeout: "REQUEST_TIMEOUT_MS" }), app.callback());
  applyClientLimits(server, limits, (socket, address) => {
    log.info("authorization server refused a connection", { status: 503, reason: "connection_limit", address });
    writeSocketResponse(socket, 503, { "retry-after": "1" }, { error: "temporarily_unavailable", error_description: "too many connections from this address" });
  });

  async function rebuildIfNeeded(version: number): Promise<void> {
    const names = catalog.scopeNames().join(" ");
    if (version === keysVersion && names === scopeNames) return;
    provider = await build();
    handle = mounted(provider);
    log.info("provider rebuilt", { keysChanged: version !== keysVersion, scopesChanged: names !== scopeNames });
    if (version !== keysVersion) securityEvent("signing_keys_changed", { kids: (await services.keys.list()).filter((k) => k.status !== "retired").map((k) => `${k.kid}:${k.status}`) });
    keysVersion = version;
    scopeNames = names;
  }

  deps.feed.subscribe("authorization server", async (revisions) => {
    await catalog.refresh({ version: revisions.config, changes: revisions.configChanges });
    await rebuildIfNeeded(revisions.keys);
  });

  return {
    catalog,
    provider: () => provider,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.PORT, config.HOST, () => resolve(server.address() as AddressInfo));
      }),
    close: () => closeGracefully(server),
  };
}
