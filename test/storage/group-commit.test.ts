// SQLite's group commit (direct-sql.ts): writes asked for in the same turn of the event loop commit in one
// transaction, each still with the outcome it would have alone, on a real SQLite database.
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { directSql, openDatabase, type Database } from "../../src/storage/database.ts";
import type { AdapterSql } from "../../src/storage/direct-sql.ts";

const INSERT = `INSERT INTO "OidcArtifact" ("model", "id", "payload", "expiresAt") VALUES ('Test', $1, '{}', $2)`;
const CONSUME = `UPDATE "OidcArtifact" SET "consumedAt" = $1 WHERE "model" = 'Test' AND "id" = $2 AND "consumedAt" IS NULL`;

describe("group commit on sqlite", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let raw: Database;
  let sql: AdapterSql;
  const later = new Date(Date.now() + 3_600_000);

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url); // migrations
    raw = await openDatabase(db.url);
    sql = directSql(raw) as AdapterSql;
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await storage?.close();
    await db?.drop();
  });

  const ids = async (prefix: string) =>
    (await sql.query(`SELECT "id" FROM "OidcArtifact" WHERE "model" = 'Test' AND "id" LIKE $1 ORDER BY "id"`, [`${prefix}%`])).map((row) => row.id);

  test("20 writes asked for at once commit in one transaction, every one of them", async () => {
    await sql.execute(INSERT, ["warm-up", later]);
    const before = { ...sql.groupCommitStats! };
    const names = Array.from({ length: 20 }, (_, i) => `batch-${String(i).padStart(2, "0")}`);
    expect(await Promise.all(names.map((id) => sql.execute(INSERT, [id, later])))).toEqual(names.map(() => 1));
    expect(sql.groupCommitStats!.transactions - before.transactions).toBe(1);
    expect(sql.groupCommitStats!.statements - before.statements).toBe(20);
    expect(await ids("batch-")).toEqual(names);
  });

  test("each statement keeps its own outcome: of two consumes of one row in a transaction, only the first changes it", async () => {
    await sql.execute(INSERT, ["consume-me", later]);
    const now = new Date();
    expect(await Promise.all([sql.execute(CONSUME, [now, "consume-me"]), sql.execute(CONSUME, [now, "consume-me"])])).toEqual([1, 0]);
  });

  test("a failing statement fails alone: the others of its transaction commit, and it rejects with its own error", async () => {
    await sql.execute(INSERT, ["taken", later]);
    const outcomes = await Promise.allSettled([sql.execute(INSERT, ["mixed-a", later]), sql.execute(INSERT, ["taken", later]), sql.execute(INSERT, ["mixed-b", later])]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UniqueConstraintViolation/);
    expect(await ids("mixed-")).toEqual(["mixed-a", "mixed-b"]);
  });

  test("a write awaited alone is its own transaction, and a read after it sees it", async () => {
    const before = sql.groupCommitStats!.transactions;
    await sql.execute(INSERT, ["alone", later]);
    expect(sql.groupCommitStats!.transactions - before).toBe(1);
    expect(await ids("alone")).toEqual(["alone"]);
  });
});
