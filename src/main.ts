// Gatehouse: starts the authorization server and the API gateway (or one of them, by ROLE) on the
// configured storage, and stops gracefully on SIGTERM/SIGINT: in-flight requests finish, then the
// database is closed.
import { ConfigError, loadConfig } from "./config/env.ts";
import { cookieSecrets, keyEncryptionSecret } from "./config/secrets.ts";
import { createServices } from "./services/index.ts";
import { openStorage } from "./storage/index.ts";
import { ChangeFeed } from "./shared/change-feed.ts";
import { log, setLogLevel } from "./shared/logger.ts";
import { RevocationList } from "./shared/revocation-list.ts";
import { bootstrapAdmin } from "./authorization-server/bootstrap-admin.ts";
import { createAuthorizationServer } from "./authorization-server/server.ts";
import { createGateway } from "./gateway/app.ts";
import { ensureGatewayClient } from "./gateway/internal-client.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.LOG_LEVEL);
  const storage = await openStorage(config.DATABASE_URL);
  const secret = keyEncryptionSecret(config);
  const services = createServices(storage, secret);
  if (await services.keys.ensure(config.SIGNING_ALG)) log.info("generated signing keys", { alg: config.SIGNING_ALG });
  await bootstrapAdmin(config, storage, services);
  await ensureGatewayClient(config, services);

  const feed = new ChangeFeed(storage, config.CONFIG_POLL_MS);
  const revocations = new RevocationList(storage);
  await revocations.sync();
  feed.subscribe("revocations", () => revocations.sync());

  const servers: Array<{ close(): Promise<void> }> = [];
  if (config.ROLE !== "gateway") {
    const authorizationServer = await createAuthorizationServer({ config, storage, services, revocations, feed, cookieKeys: cookieSecrets(config) });
    const address = await authorizationServer.listen();
    servers.push(authorizationServer);
    log.info("authorization server listening", { issuer: config.ISSUER, port: address.port, storage: storage.kind });
  }
  if (config.ROLE !== "authorization-server") {
    const gateway = await createGateway({ config, storage, services, revocations, feed, keyEncryptionSecret: secret });
    const address = await gateway.listen();
    servers.push(gateway);
    log.info("gateway listening", { port: address.port });
  }
  feed.start();

  const purge = setInterval(() => {
    storage.purgeExpired().then(
      (counts) => log.debug("purged expired records", counts),
      (error: unknown) => log.warn("purge failed", { error: String(error) }),
    );
  }, config.PURGE_INTERVAL * 1000);
  purge.unref();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    clearInterval(purge);
    await Promise.all(servers.map((server) => server.close()));
    await feed.stop();
    await storage.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`gatehouse: ${error.message}\n`);
  else process.stderr.write(`gatehouse: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
