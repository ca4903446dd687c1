// A change of the signing keys (first keys, a rotation, a repair) and the "keys" revision that makes
// every instance reload them commit together (SigningKeyRepository.change), and two rotations at once
// cannot both land. Before, a rotation was three writes and a revision bump: a failed bump left the
// rotation in the database while every other instance kept signing with the key it had retired, and
// two rotations at once both "succeeded", leaving two next keys.
import { BACKENDS, freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { openDatabase, type Database } from "../../src/storage/database.ts";
import { ConflictError } from "../../src/services/errors.ts";

/** The key table as kid → status. */
const table = async (storage: Storage) => Object.fromEntries((await storage.keys.list()).map((k) => [k.kid, k.status]));
const count = (keys: Record<string, string>, status: string) => Object.values(keys).filter((s) => s === status).length;

/** SQL that makes the "keys" revision refuse to move, and undoes it. */
const REFUSE: Record<Backend, { on: string[]; off: string[] }> = {
  sqlite: {
    on: [
      `CREATE TRIGGER refuse_keys_update BEFORE UPDATE ON "Revision" WHEN NEW."name" = 'keys' BEGIN SELECT RAISE(ABORT, 'keys revision refused'); END`,
      `CREATE TRIGGER refuse_keys_insert BEFORE INSERT ON "Revision" WHEN NEW."name" = 'keys' BEGIN SELECT RAISE(ABORT, 'keys revision refused'); END`,
    ],
    off: [`DROP TRIGGER refuse_keys_update`, `DROP TRIGGER refuse_keys_insert`],
  },
  postgresql: {
    on: [
      `CREATE FUNCTION refuse_keys() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW."name" = 'keys' THEN RAISE EXCEPTION 'keys revision refused'; END IF; RETURN NEW; END $$`,
      `CREATE TRIGGER refuse_keys BEFORE INSERT OR UPDATE ON "Revision" FOR EACH ROW EXECUTE FUNCTION refuse_keys()`,
    ],
    off: [`DROP TRIGGER refuse_keys ON "Revision"`, `DROP FUNCTION refuse_keys()`],
  },
};

describe.each(BACKENDS)("signing key changes on %s", (backend) => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;
  let raw: Database;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
    raw = await openDatabase(db.url);
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await storage?.close();
    await db?.drop();
  });

  /** Runs two key changes whose first reads of the key table both happen before either writes (each read waits for the other). */
  async function bothReadFirst(start: () => [Promise<unknown>, Promise<unknown>]): Promise<PromiseSettledResult<unknown>[]> {
    const list = storage.keys.list.bind(storage.keys);
    let reads = 0;
    let bothRead: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    storage.keys.list = async () => {
      const keys = await list();
      if (++reads === 2) bothRead();
      if (reads <= 2) await barrier; // a read after a conflict (ensure tries again) does not wait
      return keys;
    };
    try {
      return await Promise.allSettled(start());
    } finally {
      storage.keys.list = list;
    }
  }

  /** Runs `change` while the "keys" revision refuses to move; "landed", or the error it failed with. */
  async function withRevisionRefused(change: () => Promise<unknown>): Promise<string> {
    for (const sql of REFUSE[backend].on) await raw.$executeRawUnsafe(sql);
    try {
      return await change().then(() => "landed", (error: unknown) => String(error));
    } finally {
      for (const sql of REFUSE[backend].off) await raw.$executeRawUnsafe(sql);
    }
  }

  test("two first starts at once on an empty table: one stores the keys, the other finds them", async () => {
    const fresh = await freshDatabase(backend);
    const otherStorage = await openStorage(fresh.url);
    const saved = storage;
    try {
      storage = otherStorage;
      const otherServices = createServices(otherStorage, { keyEncryptionSecret: fresh.env.KEY_ENCRYPTION_SECRET! });
      const results = await bothReadFirst(() => [otherServices.keys.ensure("ES256"), otherServices.keys.ensure("ES256")]);
      expect(results.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason))).sort()).toEqual([false, true]);
      const keys = await table(otherStorage);
      expect([count(keys, "active"), count(keys, "next"), Object.keys(keys).length]).toEqual([1, 1, 2]);
      expect((await otherStorage.revisions.read()).keys).toBe(1);
    } finally {
      storage = saved;
      await otherStorage.close();
      await fresh.drop();
    }
  });

  test("the first keys are not stored when the revision cannot move, and are with it once it can", async () => {
    // (SQLite's refusal reaches Prisma under another name; that the change failed is what counts.)
    expect(await withRevisionRefused(() => services.keys.ensure("ES256"))).not.toBe("landed");
    expect(await table(storage)).toEqual({});
    expect((await storage.revisions.read()).keys).toBe(0);

    expect(await services.keys.ensure("ES256")).toBe(true);
    const keys = await table(storage);
    expect([count(keys, "active"), count(keys, "next")]).toEqual([1, 1]);
    expect((await storage.revisions.read()).keys).toBe(1);
    expect(await services.keys.ensure("ES256")).toBe(false); // nothing to do: no write, no revision
    expect((await storage.revisions.read()).keys).toBe(1);
  });

  test("a rotation leaves the table as it was when the revision cannot move, and lands whole once it can", async () => {
    const before = await table(storage);
    const revision = (await storage.revisions.read()).keys;
    expect(await withRevisionRefused(() => services.keys.rotate())).not.toBe("landed");
    expect(await table(storage)).toEqual(before);
    expect((await storage.revisions.read()).keys).toBe(revision);

    const rotation = await services.keys.rotate();
    const after = await table(storage);
    expect(after[rotation.active]).toBe("active");
    expect(after[rotation.next]).toBe("next");
    expect(after[rotation.retired!]).toBe("retired");
    expect([count(after, "active"), count(after, "next")]).toEqual([1, 1]);
    expect((await storage.revisions.read()).keys).toBe(revision + 1);
  });

  test("of two rotations at once one lands and the other is refused as a conflict, writing nothing", async () => {
    const revision = (await storage.revisions.read()).keys;
    const before = await table(storage);
    const results = await bothReadFirst(() => [services.keys.rotate(), services.keys.rotate()]);
    const landed = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(landed).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(ConflictError);

    const after = await table(storage);
    expect([count(after, "active"), count(after, "next")]).toEqual([1, 1]);
    expect(Object.keys(after)).toHaveLength(Object.keys(before).length + 1); // one new next key, not two
    expect((await storage.revisions.read()).keys).toBe(revision + 1);
  });
});
