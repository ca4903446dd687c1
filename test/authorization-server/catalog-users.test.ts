// The catalog's users in use (catalog.ts), on a real SQLite database: a user found once is served from
// memory (refresh and userinfo run no user query), forgotten when a change names it, and a lookup that
// straddles such a change is not kept.
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { directSql, openDatabase, type Database } from "../../src/storage/database.ts";
import { Catalog } from "../../src/authorization-server/catalog.ts";
import { enableMetrics } from "../../src/shared/metrics.ts";
import { sample } from "../helpers/operations.ts";

describe("the catalog's users", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let raw: Database;
  let catalog: Catalog;
  let version: number;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    raw = await openDatabase(db.url);
    catalog = new Catalog(storage);
  });

  beforeEach(async () => {
    await catalog.refresh({ force: true });
    version = (await storage.revisions.read()).config;
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await storage?.close();
    await db?.drop();
  });

  let users = 0;
  async function createUser(): Promise<string> {
    const id = `user-${++users}`;
    await storage.users.create({ id, username: id, email: null, passwordHash: "x", claims: {}, roles: [], enabled: true, passwordChangeRequired: false });
    return id;
  }
  /** Deletes the row behind the catalog's back (no change logged), so that only its memory can still know the user. */
  const deleteRow = (id: string) => directSql(raw).execute(`DELETE FROM "User" WHERE "id" = $1`, [id]);
  /** What the change feed hands the catalog when another process changed these users. */
  const changed = (...ids: string[]) =>
    catalog.refresh({ version: version + ids.length, changes: { from: version, changes: ids.map((key, i) => ({ seq: 1_000_000 + i, entity: "user" as const, key })) } });

  test("every write of a user is logged as a change naming it", async () => {
    const id = await createUser();
    await storage.users.update(id, { claims: { name: "Changed" } });
    await storage.users.delete(id);
    const logged = await storage.revisions.configChangesSince(0, 1000);
    expect(logged.filter((c) => c.entity === "user" && c.key === id)).toHaveLength(3);
    expect((await storage.revisions.read()).config).toBe(version + 3);
  });

  test("a user write that fails logs no change", async () => {
    const id = await createUser();
    const before = await storage.revisions.read();
    await expect(storage.users.create({ id: `${id}-again`, username: id, email: null, passwordHash: "x", claims: {}, roles: [], enabled: true, passwordChangeRequired: false })).rejects.toThrow();
    await expect(storage.users.update("no-such-user", { claims: {} })).rejects.toThrow();
    expect(await storage.revisions.read()).toEqual(before);
  });

  test("a user found once is served from memory, without its password hash; lookups are counted by outcome", async () => {
    const registry = enableMetrics();
    const lookups = async (outcome: string) => sample(await registry.metrics(), `gatehouse_authorization_server_cache_lookups_total{cache="user",outcome="${outcome}"}`) ?? 0;
    const [hits, misses] = [await lookups("hit"), await lookups("miss")];
    const id = await createUser();
    const found = await catalog.findUser(id);
    expect(found?.username).toBe(id);
    expect(found).not.toHaveProperty("passwordHash");
    await deleteRow(id);
    expect((await catalog.findUser(id))?.username).toBe(id);
    expect([(await lookups("hit")) - hits, (await lookups("miss")) - misses]).toEqual([1, 1]);
  });

  test("held at most USER_CACHE_MS, even when no change names it (a lost change costs at most that)", async () => {
    const id = await createUser();
    await catalog.findUser(id);
    await deleteRow(id);
    const realNow = Date.now;
    const later = realNow() + Catalog.USER_CACHE_MS + 1;
    Date.now = () => later;
    try {
      expect(await catalog.findUser(id)).toBeUndefined();
    } finally {
      Date.now = realNow;
    }
  });

  test("a change naming the user forgets it; the next lookup reads the database", async () => {
    const id = await createUser();
    const other = await createUser();
    await catalog.findUser(id);
    await catalog.findUser(other);
    await deleteRow(id);
    await deleteRow(other);
    await changed(id);
    expect(await catalog.findUser(id)).toBeUndefined();
    expect((await catalog.findUser(other))?.username).toBe(other); // not named: still held
  });

  test("a full reload forgets every user", async () => {
    const id = await createUser();
    await catalog.findUser(id);
    await deleteRow(id);
    await catalog.refresh({ force: true });
    expect(await catalog.findUser(id)).toBeUndefined();
  });

  test("a lookup that straddles a change of the user answers, but is not kept", async () => {
    const id = await createUser();
    const lookup = catalog.findUser(id);
    await changed(id);
    expect((await lookup)?.username).toBe(id);
    await deleteRow(id);
    expect(await catalog.findUser(id)).toBeUndefined();
  });

  test("a user not found is not remembered: created afterwards, it is found", async () => {
    expect(await catalog.findUser("user-later")).toBeUndefined();
    await storage.users.create({ id: "user-later", username: "later", email: null, passwordHash: "x", claims: {}, roles: [], enabled: true, passwordChangeRequired: false });
    expect((await catalog.findUser("user-later"))?.username).toBe("later");
  });
});
