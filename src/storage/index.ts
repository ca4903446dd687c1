// The storage layer's one way in: opens the database, migrates it and hands out repositories.
// Nothing outside src/storage imports Prisma.
import { ensureDatabase, openDatabase, databaseKind, DEFAULT_TIMEOUTS, type Database, type DatabaseKind, type DatabaseTimeouts } from "./database.ts";
import { log } from "../shared/logger.ts";
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
import { AuditRepository } from "./repositories/audit.ts";
import { AdminSessionRepository } from "./repositories/admin-sessions.ts";
import { AssertionIssuerRepository } from "./repositories/assertion-issuers.ts";
import { ReplayRepository } from "./repositories/replays.ts";
import { openRedis, type RedisConnection } from "./redis.ts";
import { STORAGE_COMMAND_TIMEOUT_MS } from "./redis-fallback.ts";
import { RedisReplayRepository } from "./redis-replays.ts";
import { RedisThrottleRepository } from "./redis-throttles.ts";
import { changeNotifications, type ChangeNotifications, type ChangeTopic, type RedisChannel } from "./change-notifications.ts";
import {
  accountGrants,
  createOidcAdapter,
  purgeExpiredArtifacts,
  revokeAccountArtifacts,
  revokeClientArtifacts,
  revokeGrantArtifacts,
  type AdapterOptions,
  type GrantArtifact,
} from "./oidc-adapter.ts";

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
  audit: AuditRepository;
  adminSessions: AdminSessionRepository;
  assertionIssuers: AssertionIssuerRepository;
  replays: ReplayRepository;
  /** Announces and receives changes across every process using this database. */
  changes: ChangeNotifications;
  oidcAdapter(options: AdapterOptions): ReturnType<typeof createOidcAdapter>;
  /** oidc-provider's artifacts by owner: ending what a client or a user was issued. */
  artifacts: {
    revokeForClient(clientId: string): Promise<number>;
    revokeForAccount(accountId: string): Promise<number>;
    /** The user's grants (what they allowed each client). */
    grantsOf(accountId: string): Promise<GrantArtifact[]>;
    /** Ends one grant and what was issued from it; returns how many artifacts were deleted. */
    revokeGrant(grantId: string): Promise<number>;
  };
  /** Deletes what has expired; password-attempt counters idle for throttleIdleSeconds (and not locked) too. */
  purgeExpired(options: { throttleIdleSeconds: number }): Promise<{ artifacts: number; revocations: number; keys: number; throttles: number; replays: number; configChanges: number }>;
  /** Cheap round trip used by health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Migrations may hold a lock while another instance migrates, or rebuild a large table: they get their own, patient connection. */
const MIGRATION_TIMEOUTS: DatabaseTimeouts = { connectMs: 10_000, queryMs: 600_000 };

export interface StorageOptions {
  /** Apply pending migrations first (default true). */
  migrate?: boolean;
  timeouts?: DatabaseTimeouts;
  /**
   * Also announce and hear changes through Redis pub/sub (REDIS_URL, REDIS_PREFIX): change-notifications.ts;
   * and keep password-attempt counters (redis-throttles.ts) and check replays (redis-replays.ts) in Redis,
   * the database answering while Redis cannot.
   */
  redis?: RedisChannel & {
    /**
     * Longest wait for Redis's answer to a throttle or replay command before the database answers, in
     * milliseconds (default STORAGE_COMMAND_TIMEOUT_MS). Tests that compare Redis with SQL step by step
     * raise it, so a busy machine does not send some of their calls to the database.
     */
    storageCommandTimeoutMs?: number;
  };
}

/**
 * Opens (and by default migrates) the database.
 * @throws DatabaseUnavailable-like errors (see isDatabaseUnavailable) when it cannot be reached, MissingDatabase when it does not exist
 */
export async function openStorage(url: string, { migrate: runMigrations = true, timeouts = DEFAULT_TIMEOUTS, redis }: StorageOptions = {}): Promise<Storage> {
  const kind = databaseKind(url);
  if (runMigrations && kind === "postgresql") {
    if (await ensureDatabase(url, timeouts)) log.info("created the database", { database: new URL(url).pathname.slice(1) });
    const migrating = await openDatabase(url, MIGRATION_TIMEOUTS);
    try {
      await migrate(migrating, kind);
    } finally {
      await migrating.$disconnect();
    }
  }
  const db: Database = await openDatabase(url, timeouts);
  if (kind === "sqlite") {
    // The CLI and the server share the file: WAL lets readers and one writer proceed together (every
    // connection waits SQLITE_BUSY_TIMEOUT_MS for the write lock, set where the database is opened).
    await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  }
  if (runMigrations && kind === "sqlite") await migrate(db, kind);
  const changes = changeNotifications(kind, url, db, timeouts.connectMs, redis);
  const revocations = new RevocationRepository(db, changes);
  const revisions = new RevisionRepository(db, changes);
  const shared: RedisConnection | undefined = redis ? openRedis(redis.url, redis.prefix, { purpose: "throttles and replays", commandTimeoutMs: redis.storageCommandTimeoutMs ?? STORAGE_COMMAND_TIMEOUT_MS }) : undefined;
  const storage: Storage = {
    kind,
    clients: new ClientRepository(db, kind, revisions),
    scopes: new ScopeRepository(db, revisions),
    apis: new ApiRepository(db, revisions),
    routes: new RouteRepository(db, revisions),
    users: new UserRepository(db, kind, revisions),
    consents: new ConsentRepository(db),
    keys: new SigningKeyRepository(db, revisions),
    revocations,
    revisions,
    throttles: shared ? new RedisThrottleRepository(db, kind, shared) : new ThrottleRepository(db, kind),
    audit: new AuditRepository(db),
    adminSessions: new AdminSessionRepository(db),
    assertionIssuers: new AssertionIssuerRepository(db, revisions),
    replays: shared ? new RedisReplayRepository(db, shared) : new ReplayRepository(db),
    changes,
    oidcAdapter: (options) => createOidcAdapter(db, options, revocations),
    artifacts: {
      revokeForClient: (clientId) => revokeClientArtifacts(db, clientId),
      revokeForAccount: (accountId) => revokeAccountArtifacts(db, accountId),
      grantsOf: (accountId) => accountGrants(db, accountId),
      revokeGrant: (grantId) => revokeGrantArtifacts(db, revocations, grantId),
    },
    async purgeExpired({ throttleIdleSeconds }) {
      return {
        artifacts: await purgeExpiredArtifacts(db),
        revocations: await storage.revocations.purgeExpired(),
        keys: await storage.keys.purgeExpired(),
        throttles: await storage.throttles.purge(throttleIdleSeconds),
        replays: await storage.replays.purge(),
        configChanges: await storage.revisions.purgeExpired(),
      };
    },
    async ping() {
      await db.$queryRawUnsafe("SELECT 1");
    },
    async close() {
      await changes.close();
      await shared?.close();
      await db.$disconnect();
    },
  };
  return storage;
}

export type { ClientRecord, ClientInput } from "./repositories/clients.ts";
export type { ScopeRecord } from "./repositories/scopes.ts";
export type { ApiRecord, StoredPolicies, TrustedIssuer } from "./repositories/apis.ts";
export type { RouteRecord, ScopeRequirement } from "./repositories/routes.ts";
export type { UserRecord } from "./repositories/users.ts";
export type { ConsentRecord } from "./repositories/consents.ts";
export type { AuditRecord, AuditQuery } from "./repositories/audit.ts";
export type { PageQuery } from "./paging.ts";
export type { AdminSessionRecord } from "./repositories/admin-sessions.ts";
export type { AssertionIssuerRecord } from "./repositories/assertion-issuers.ts";
export type { SigningKeyRecord, KeyStatus, KeyTableChange, NewSigningKey } from "./repositories/keys.ts";
export { KeyTableChanged } from "./repositories/keys.ts";
export type { RevocationKind } from "./repositories/revocations.ts";
export type { ConfigChange, ConfigEntity } from "./repositories/revisions.ts";
export type { ChangeNotifications, ChangeTopic };
export type { AdapterPayload, GrantArtifact } from "./oidc-adapter.ts";
export { isDatabaseUnavailable } from "./errors.ts";
export { MissingDatabase, type DatabaseTimeouts } from "./database.ts";
