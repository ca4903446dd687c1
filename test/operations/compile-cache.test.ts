// npm start runs node with NODE_COMPILE_CACHE: a server writes its modules, compiled and with their types
// stripped, to the cache once every server it runs is built, so the next start neither strips types again
// nor loads the type stripper. Written at start, not at exit: a process that is killed leaves it too.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";

const filesUnder = (dir: string): string[] =>
  fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name) : [];

describe("the compile cache", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse | undefined;
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-compile-cache-"));

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
  });

  afterAll(async () => {
    await gatehouse?.stop("SIGKILL");
    await db?.drop();
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test("a started server has written its modules to NODE_COMPILE_CACHE, and a killed one leaves them", async () => {
    gatehouse = await startGatehouse(db, { NODE_COMPILE_CACHE: cache });
    // Every server is built before the first one listens, and the cache is written right after.
    const deadline = Date.now() + 5000;
    while (filesUnder(cache).length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await gatehouse.stop("SIGKILL");
    gatehouse = undefined;
    // Hundreds of modules: Gatehouse's own (src/*.ts) and its dependencies'.
    expect(filesUnder(cache).length).toBeGreaterThan(100);
  });
});
