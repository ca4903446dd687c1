// Instances on several machines share revocations through PostgreSQL. Each instance's list loads the
// entries written since its last load, by their time of writing; that time is the database's clock, so
// an entry written by an instance whose clock is behind is loaded all the same (with the writer's clock
// it was missed: its time fell before the reader's window, and the revoked token stayed accepted).
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { RevocationList } from "../../src/shared/revocation-list.ts";
import { directSql, openDatabase, type Database } from "../../src/storage/database.ts";

/** Runs `write` as on a machine whose clock is `behindMs` behind this one's (Date.now() and new Date()). */
async function withClockBehind<T>(behindMs: number, write: () => Promise<T>): Promise<T> {
  const RealDate = Date;
  class SlowDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() - behindMs);
      else super(...(args as [string]));
    }
    static override now(): number {
      return RealDate.now() - behindMs;
    }
  }
  globalThis.Date = SlowDate as DateConstructor;
  try {
    return await write();
  } finally {
    globalThis.Date = RealDate;
  }
}

describe("revocations between instances whose clocks differ (PostgreSQL)", () => {
  let db: FreshDatabase;
  let reader: Storage;
  let writer: Storage;
  let raw: Database;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    reader = await openStorage(db.url);
    writer = await openStorage(db.url, { migrate: false });
    raw = await openDatabase(db.url);
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await writer?.close();
    await reader?.close();
    await db?.drop();
  });

  test("an entry written by an instance whose clock is a minute behind reaches a list that has loaded newer ones", async () => {
    const list = new RevocationList(reader);
    const expiresAt = new Date(Date.now() + 600_000);
    await writer.revocations.add({ kind: "jti", id: "on-time", expiresAt });
    await list.sync();
    expect(list.isRevoked("jti", "on-time")).toBe(true);

    await withClockBehind(60_000, () => writer.revocations.add({ kind: "grant", id: "from-a-slow-clock", expiresAt }));
    await list.sync();
    expect(list.isRevoked("grant", "from-a-slow-clock")).toBe(true);
  });

  /** An entry stamped `offsetMs` off the database's clock, as an instance of an older release (its own clock) or a late commit leaves it. */
  const stampedOff = (id: string, offsetMs: number) =>
    writer.revocations.add({ kind: "jti", id, expiresAt: new Date(Date.now() + 600_000) }).then(() =>
      directSql(raw).execute(`UPDATE "Revocation" SET "createdAt" = $1 WHERE "kind" = 'jti' AND "id" = $2`, [new Date(Date.now() + offsetMs), id]),
    );

  test("an entry stamped a minute ahead (an older writer's fast clock) does not make the list skip the entries after it", async () => {
    const list = new RevocationList(reader);
    await list.sync();
    await stampedOff("stamped-ahead", 60_000);
    await list.sync();
    expect(list.isRevoked("jti", "stamped-ahead")).toBe(true);
    await writer.revocations.add({ kind: "jti", id: "after-the-fast-one", expiresAt: new Date(Date.now() + 600_000) });
    await list.sync();
    expect(list.isRevoked("jti", "after-the-fast-one")).toBe(true);
  });

  test("an entry stamped before the margin (a commit that came late) is loaded by the next full load", async () => {
    const list = new RevocationList(reader);
    await list.sync();
    await stampedOff("committed-late", -60_000);
    await list.sync();
    expect(list.isRevoked("jti", "committed-late")).toBe(false); // outside the margin: not read by time
    await list.sync(new Date(Date.now() + RevocationList.FULL_LOAD_MS));
    expect(list.isRevoked("jti", "committed-late")).toBe(true);
  });

  test("nor does a reader whose clock is ahead miss one", async () => {
    const list = new RevocationList(reader);
    const expiresAt = new Date(Date.now() + 600_000);
    await withClockBehind(-60_000, () => list.sync());
    await writer.revocations.add({ kind: "jti", id: "read-by-a-fast-clock", expiresAt });
    await withClockBehind(-60_000, () => list.sync());
    expect(list.isRevoked("jti", "read-by-a-fast-clock")).toBe(true);
  });
});
