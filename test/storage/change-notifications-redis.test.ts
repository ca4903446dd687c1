// Change notifications through Redis pub/sub (REDIS_URL): every process hears every change at once, and
// one whose subscription was cut (Redis restarted) reports a change when it is back, so it catches up.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { changeNotifications, type ChangeTopic } from "../../src/storage/change-notifications.ts";
import type { Database } from "../../src/storage/database.ts";
import { freePort } from "../helpers/gatehouse.ts";
import { PrivateRedis, until } from "../helpers/redis.ts";

const NO_DATABASE = undefined as unknown as Database; // the SQLite transport never queries

/** Two processes' notifications on SQLite files of their own: only Redis can carry a change between them. */
function twoProcesses(redis?: { url: string; prefix: string }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-notify-"));
  const writer = changeNotifications("sqlite", `file:${path.join(dir, "a.db")}`, NO_DATABASE, 1000, redis);
  const reader = changeNotifications("sqlite", `file:${path.join(dir, "b.db")}`, NO_DATABASE, 1000, redis);
  const heard: ChangeTopic[] = [];
  const stop = reader.listen((topic) => heard.push(topic));
  return {
    writer,
    heard,
    async close() {
      await stop();
      await writer.close();
      await reader.close();
    },
  };
}

describe("change notifications through Redis", () => {
  let redis: PrivateRedis;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test("a change announced by one process is heard by another, on the deployment's prefix only", async () => {
    const ours = twoProcesses({ url: redis.url, prefix: "one" });
    const others = twoProcesses({ url: redis.url, prefix: "two" });
    try {
      // Right after opening (as the CLI writes): the announcement waits for the connection.
      await until(async () => {
        await ours.writer.notify("revocations");
        return ours.heard.includes("revocations");
      });
      await ours.writer.notify("keys");
      await until(() => ours.heard.includes("keys"));
      expect(others.heard).toEqual([]);
    } finally {
      await ours.close();
      await others.close();
    }
  });

  test("without Redis, processes on different databases hear nothing of each other", async () => {
    const plain = twoProcesses();
    try {
      await plain.writer.notify("config");
      await new Promise((r) => setTimeout(r, 300));
      expect(plain.heard).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  test("Redis restarted: the listener reports a change once it is back, and hears again", async () => {
    const p = twoProcesses({ url: redis.url, prefix: "restart" });
    try {
      await until(async () => {
        await p.writer.notify("keys");
        return p.heard.includes("keys");
      });
      await redis.stop();
      // While it is down an announcement neither throws nor hangs.
      const started = Date.now();
      await p.writer.notify("config");
      expect(Date.now() - started).toBeLessThan(2000);
      p.heard.length = 0;
      await redis.start();
      await until(() => p.heard.includes("config"), 15_000);
      p.heard.length = 0;
      await until(async () => {
        await p.writer.notify("revocations");
        return p.heard.includes("revocations");
      }, 15_000);
    } finally {
      await p.close();
    }
  });
});
