// The authorization server's HTTP listener. It serves the current oidc-provider instance and keeps
// the in-memory state fresh: the catalog (clients, APIs, scopes), the revocation list and, when the
// signing keys change (`gatehouse keys rotate`), a rebuilt provider that is swapped in without a restart.
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

  let keysVersion = (await storage.revisions.read()).keys;
  let provider = buildProvider({ ...deps, catalog, secrets, revocations, jwks: await services.keys.privateJwks(), maxAccessTokenTtl });
  let handle = provider.callback();
  const server = http.createServer((req, res) => handle(req, res));
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  async function reloadKeys(version: number): Promise<void> {
    provider = buildProvider({ ...deps, catalog, secrets, revocations, jwks: await services.keys.privateJwks(), maxAccessTokenTtl });
    handle = provider.callback();
    keysVersion = version;
    log.info("signing keys reloaded", { keysVersion });
  }

  let polling = false;
  const poll = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      const revisions = await storage.revisions.read();
      if (revisions.keys !== keysVersion) await reloadKeys(revisions.keys);
      await catalog.refresh();
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
