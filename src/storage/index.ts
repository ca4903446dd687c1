// The storage layer's one way in: opens the database, migrates it and hands out repositories.
// Nothing outside src/storage imports Prisma.
import { openDatabase, databaseKind, type Database, type DatabaseKind } from "./database.ts";
import { migrate } from "./migrate.ts";
import { ClientRepository } from "./repositories/clients.ts";
import { ScopeRepository } from "./repositories/scopes.ts";
import { ApiRepository } from "./repositories/apis.ts";
import { RouteRepository } from "./repositories/routes.ts";
import { UserRepository } from "./repositories/users.ts";
import { ConsentRepository } from "./repositories/consents.ts";
import { SigningKeyRepository } from "./repositories/keys.ts";
import { RevocationRepository } from "./repositories/revocations.ts";
import { RevisionRepository } from "./repositories/revisions.ts";
import { ThrottleRepository } from "./repositories/throttles.ts";
import { createOidcAdapter, purgeExpiredArtifacts, revokeAccountArtifacts, revokeClientArtifacts, type AdapterOptions } from "./oidc-adapter.ts";

export interface Storage {
  kind: DatabaseKind;
  clients: ClientRepository;
  scopes: ScopeRepository;
  apis: ApiRepository;
  routes: RouteRepository;
  users: UserRepository;
  consents: ConsentRepository;
  keys: SigningKeyRepository;
  revocations: RevocationRepository;
  revisions: RevisionRepository;
  throttles: ThrottleRepository;
  oidcAdapter(options: AdapterOptions): ReturnType<typeof createOidcAdapter>;
  /** oidc-provider's artifacts by owner: ending what a client or a user was issued. */
  artifacts: {
    revokeForClient(clientId: string): Promise<number>;
    revokeForAccount(accountId: string): Promise<number>;
  };
  /** Deletes what has expired; password-attempt counters idle for throttleIdleSeconds (and not locked) too. */
  purgeExpired(options: { throttleIdleSeconds: number }): Promise<{ artifacts: number; revocations: number; keys: number; throttles: number }>;
  /** Cheap round trip used by health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openStorage(url: string, { migrate: runMigrations = true } = {}): Promise<Storage> {
  const kind = databaseKind(url);
  const db: Database = openDatabase(url);
  if (kind === "sqlite") {
    // The CLI and the server share the file: WAL lets readers and one writer proceed together, and
    // a writer waits for the lock instead of failing with SQLITE_BUSY.
    await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
    await db.$queryRawUnsafe("PRAGMA busy_timeout = 5000");
  }
  if (runMigrations) await migrate(db, kind);
  const storage: Storage = {
    kind,
    clients: new ClientRepository(db),
    scopes: new ScopeRepository(db),
    apis: new ApiRepository(db),
    routes: new RouteRepository(db),
    users: new UserRepository(db),
    consents: new ConsentRepository(db),
    keys: new SigningKeyRepository(db),
    revocations: new RevocationRepository(db),
    revisions: new RevisionRepository(db),
    throttles: new ThrottleRepository(db, kind),
    oidcAdapter: (options) => createOidcAdapter(db, options),
    artifacts: {
      revokeForClient: (clientId) => revokeClientArtifacts(db, clientId),
      revokeForAccount: (accountId) => revokeAccountArtifacts(db, accountId),
    },
    async purgeExpired({ throttleIdleSeconds }) {
      return {
        artifacts: await purgeExpiredArtifacts(db),
        revocations: await storage.revocations.purgeExpired(),
        keys: await storage.keys.purgeExpired(),
        throttles: await storage.throttles.purge(throttleIdleSeconds),
      };
    },
    async ping() {
      await db.$queryRawUnsafe("SELECT 1");
    },
    close: () => db.$disconnect(),
  };
  return storage;
}

export type { ClientRecord, ClientInput } from "./repositories/clients.ts";
export type { ScopeRecord } from "./repositories/scopes.ts";
export type { ApiRecord, OutboundOAuth, TrustedIssuer } from "./repositories/apis.ts";
export type { RouteRecord, ScopeRequirement } from "./repositories/routes.ts";
export type { UserRecord } from "./repositories/users.ts";
export type { ConsentRecord } from "./repositories/consents.ts";
export type { SigningKeyRecord, KeyStatus } from "./repositories/keys.ts";
export type { RevocationKind } from "./repositories/revocations.ts";
export type { AdapterPayload } from "./oidc-adapter.ts";
export { isDatabaseUnavailable } from "./errors.ts";
