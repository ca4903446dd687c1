// The authorization server's HTTP listener. It serves the current oidc-provider instance and keeps
// the in-memory state fresh: the catalog (clients, APIs, scopes), the revocation list and, when the
// signing keys (`gatehouse keys rotate`) or the set of scope names change, a rebuilt provider that is
// swapped in without a restart (oidc-provider fixes both at construction).
import http from "node:http";
import type { AddressInfo } from "node:net";
import type Provider from "oidc-provider";
import type { Config } from "../config/env.ts";
import type { Services } from "../services/index.ts";
import type { Storage } from "../storage/index.ts";
import { log } from "../shared/logger.ts";
import { Catalog } from "./catalog.ts";
import { ClientSecretVerifier } from "./client-secrets.ts";
import { buildProvider } from "./provider.ts";
import { RevocationList } from "./revocation-list.ts";

export interface AuthorizationServerDeps {
  config: Config;
  storage: Storage;
  services: Services;
  cookieKeys: string[];
}

export interface AuthorizationServer {
  readonly catalog: Catalog;
  readonly revocations: RevocationList;
  provider(): Provider;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export async function createAuthorizationServer(deps: AuthorizationServerDeps): Promise<AuthorizationServer> {
  const { config, storage, services } = deps;
  const catalog = new Catalog(storage);
  const revocations = new RevocationList(storage);
  const secrets = new ClientSecretVerifier(config.CLIENT_SECRET_CACHE_TTL);
  await catalog.refresh({ force: true });
  await revocations.sync();

  const maxAccessTokenTtl = () =>
    Math.max(config.ACCESS_TOKEN_TTL, ...catalog.apis().map((a) => a.accessTokenTtl));

  const build = async () => buildProvider({ ...deps, catalog, secrets, revocations, jwks: await services.keys.privateJwks(), maxAccessTokenTtl });
  let keysVersion = (await storage.revisions.read()).keys;
  let scopeNames = catalog.scopeNames().join(" ");
  let provider = await build();
  let handle = provider.callback();
  const server = http.createServer((req, res) => handle(req, res));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  async function rebuildIfNeeded(version: number): Promise<void> {
    const names = catalog.scopeNames().join(" ");
    if (version === keysVersion && names === scopeNames) return;
    provider = await build();
    handle = provider.callback();
    log.info("provider rebuilt", { keysChanged: version !== keysVersion, scopesChanged: names !== scopeNames });
    keysVersion = version;
    scopeNames = names;
  }

  let polling = false;
  const poll = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      const revisions = await storage.revisions.read();
      await catalog.refresh();
      await rebuildIfNeeded(revisions.keys);
      await revocations.sync();
    } catch (error) {
      log.warn("could not refresh configuration", { error: String(error) });
    } finally {
      polling = false;
    }
  }, config.CONFIG_POLL_MS);
  poll.unref();

  return {
    catalog,
    revocations,
    provider: () => provider,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.PORT, config.HOST, () => resolve(server.address() as AddressInfo));
      }),
    close: () =>
      new Promise((resolve) => {
        clearInterval(poll);
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      }),
  };
}
