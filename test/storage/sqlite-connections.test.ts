// The SQLite connections Prisma's adapter uses (src/storage/database.ts). SQLite has one writer at a
// time: a write while another process (the CLI, a second instance, a backup) holds the write lock must
// wait for it (busy timeout), on every connection, instead of failing at once with SQLITE_BUSY. Before,
// only the first connection waited: a PRAGMA set the busy timeout on it alone. And a transaction must
// not cost a connection: the adapter's bundled libsql client opened a new one after every transaction
// and left the old one open (a file descriptor and its page cache) until it was garbage collected.
import fs from "node:fs";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { spawn } from "node:child_process";
import path from "node:path";
import { NODE } from "../helpers/gatehouse.ts";

const HOLD_MS = 1000;

describe("SQLite writes wait for another process's write lock", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
  });

  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  /**
   * Another process takes the write lock and keeps it HOLD_MS (SQLite's wait is synchronous: a holder in
   * this process could not run while a write here waits); resolves once it holds it, with its exit.
   */
  async function holdWriteLock(): Promise<{ released: Promise<void> }> {
    const script = `
      import { openDatabase } from ${JSON.stringify(path.resolve("src/storage/database.ts"))};
      const db = await openDatabase(${JSON.stringify(db.url)});
      await db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(\`INSERT INTO "Revision" ("name", "version", "updatedAt") VALUES ('lock-holder', 1, 0) ON CONFLICT ("name") DO UPDATE SET "version" = "version" + 1\`);
        console.log("held");
        await new Promise((resolve) => setTimeout(resolve, ${HOLD_MS}));
      }, { timeout: ${HOLD_MS * 5} });
      await db.$disconnect();`;
    const holder = spawn(NODE, ["--no-warnings", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const released = new Promise<void>((resolve, reject) => holder.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`lock holder exited ${code}`)))));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("held") && resolve());
      released.catch(reject);
    });
    return { released };
  }

  test.each([
    ["a scope (one write and its change-log entry)", (n: number) => services.scopes.create({ name: `busy:${n}`, description: "Busy" })],
    ["the first signing keys (a transaction after reads)", () => services.keys.ensure("ES256")],
    ["a signing-key rotation", () => services.keys.rotate()],
  ])("%s waits for the lock and lands", async (_what, write) => {
    // Reads and a transaction first, so the pool has more than its first connection in use.
    await Promise.all([services.keys.list(), services.scopes.list(), storage.revisions.read()]);
    await services.scopes.create({ name: `warm:${Date.now()}`, description: "Warm" });

    const { released } = await holdWriteLock();
    const started = Date.now();
    await expect(write(started)).resolves.not.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(HOLD_MS / 2); // it did wait for the lock
    await released;
  });

  test("transactions reuse the pool's connections: 200 writes leave the process's open files as they were", async () => {
    const openFiles = () => fs.readdirSync("/proc/self/fd").length;
    await services.scopes.create({ name: "warm:files", description: "Warm" });
    const before = openFiles();
    for (let i = 0; i < 200; i++) await services.scopes.create({ name: `files:${i}`, description: "Files" });
    expect(openFiles() - before).toBeLessThanOrEqual(5);
  });
});
