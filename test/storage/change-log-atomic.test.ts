// Every write of a client, scope, API, route, trusted issuer or user and the change-log entry that tells
// every instance about it commit together (RevisionRepository.changeWith), on a real SQLite database.
// A trigger makes the log refuse its entries: each write must then fail whole, leaving nothing behind
// that no instance would hear of (it landed before, and every catalog and route table kept the old entry).
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { openDatabase, type Database } from "../../src/storage/database.ts";
import { exportJWK, generateKeyPair, type JWK } from "jose";

const API = "https://atomic.example.com";

describe("a write and its change-log entry commit together", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;
  let raw: Database;
  let issuerKey: JWK;

  beforeAll(async () => {
    issuerKey = { ...(await exportJWK((await generateKeyPair("ES256")).publicKey)), kid: "atomic-1", alg: "ES256", use: "sig" };
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
    raw = await openDatabase(db.url);
    await services.scopes.create({ name: "atomic:read", description: "Read" });
    await services.apis.apply({ identifier: API, name: "Atomic", scopes: ["atomic:read"] });
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await storage?.close();
    await db?.drop();
  });

  /** Runs `write` while the change log refuses every entry; "landed", or the error it failed with. */
  async function withLogRefused(write: () => Promise<unknown>): Promise<string> {
    await raw.$executeRawUnsafe(`CREATE TRIGGER refuse_log BEFORE INSERT ON "ConfigChange" BEGIN SELECT RAISE(ABORT, 'change log refused'); END`);
    try {
      return await write().then(() => "landed", (error: unknown) => String(error));
    } finally {
      await raw.$executeRawUnsafe(`DROP TRIGGER refuse_log`);
    }
  }

  test.each([
    ["a client", () => services.clients.create({ client_name: "Atomic worker", client_id: "atomic-worker", grant_types: ["client_credentials"], scopes: ["atomic:read"] } as never), () => storage.clients.find("atomic-worker")],
    ["a scope", () => services.scopes.create({ name: "atomic:write", description: "Write" }), async () => (await storage.scopes.list()).find((s) => s.name === "atomic:write")],
    ["an API", () => services.apis.apply({ identifier: "https://atomic-two.example.com", name: "Atomic two", scopes: [] }), () => storage.apis.find("https://atomic-two.example.com")],
    ["a route", () => services.routes.apply(API, { path_prefix: "/atomic", upstream: "http://127.0.0.1:9" }), async () => (await storage.routes.list(API)).find((r) => r.pathPrefix === "/atomic")],
    ["a trusted issuer", () => services.issuers.create({ issuer: "https://idp.atomic.example.com", kind: "jwt", name: "Atomic IdP", jwks: { keys: [issuerKey] }, clients: [], subject_mapping: "username", scopes: [], max_assertion_lifetime: 300 } as never), () => storage.assertionIssuers.find("https://idp.atomic.example.com")],
    ["a user", () => services.users.create({ username: "atomic-user", password: "correct horse battery staple" }), () => storage.users.findByUsername("atomic-user")],
  ])("%s is not stored when its change cannot be logged, and is with its change once it can", async (_what, write, stored) => {
    const before = await storage.revisions.read();
    expect(await withLogRefused(write)).not.toBe("landed");
    expect(await stored()).toBeFalsy();
    expect(await storage.revisions.read()).toEqual(before);

    await write();
    expect(await stored()).toBeTruthy();
    expect((await storage.revisions.read()).config).toBe(before.config + 1);
  });
});
