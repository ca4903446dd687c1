// Tells every process using the same database that something changed, so that it reloads now instead
// of at its next poll: the CLI, `apply` or another instance writes, and a running server's catalog,
// route table and revocation list follow within milliseconds. Polling stays as the safety net for a
// lost notification.
//  - PostgreSQL: NOTIFY on a channel, LISTEN on a dedicated connection (re-established if it drops).
//  - SQLite (one machine): a small file beside the database, written on every change and watched.
//  - With REDIS_URL, also Redis pub/sub, on `<REDIS_PREFIX>:changes`: the instant path where LISTEN is not
//    available (a connection pooler in transaction mode between Gatehouse and PostgreSQL). Either path
//    wakes every instance; what changed is always read from the database (the change log), so a message
//    lost in either, or Redis down, costs at most one poll interval.
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { log } from "../shared/logger.ts";
import type { Database, DatabaseKind } from "./database.ts";
import { openRedis } from "./redis.ts";

/** What changed: configuration (clients, scopes, APIs, routes, issuers, users), signing keys, or revocations. */
export type ChangeTopic = "config" | "keys" | "revocations";

const CHANNEL = "gatehouse_changes";
const TOPICS: ReadonlySet<string> = new Set<ChangeTopic>(["config", "keys", "revocations"]);

export interface ChangeNotifications {
  /** Announces a change committed by this process. Never throws: polling covers a lost notification. */
  notify(topic: ChangeTopic): Promise<void>;
  /** Calls onChange for every change announced by any process (this one included); returns a function that stops listening. */
  listen(onChange: (topic: ChangeTopic) => void): () => Promise<void>;
}

/** The file SQLite changes are announced through: beside the database file. */
function changeFile(url: string): string {
  return `${path.resolve(url.slice("file:".length))}.changes`;
}

function sqliteNotifications(url: string): ChangeNotifications {
  const file = changeFile(url);
  return {
    async notify(topic) {
      try {
        await fs.promises.writeFile(file, `${topic} ${Date.now()}\n`);
      } catch (error) {
        log.warn("could not announce a change", { error: (error as Error).message });
      }
    },
    listen(onChange) {
      // Watch the directory: the file may not exist yet, and writers may replace it.
      const base = path.basename(file);
      const watcher = fs.watch(path.dirname(file), (_event, name) => {
        if (name !== base) return;
        fs.promises.readFile(file, "utf8").then(
          (content) => {
            const topic = content.split(" ")[0] ?? "";
            if (TOPICS.has(topic)) onChange(topic as ChangeTopic);
          },
          () => undefined,
        );
      });
      watcher.on("error", (error) => log.warn("change notifications stopped", { error: error.message }));
      watcher.unref();
      return async () => watcher.close();
    },
  };
}

function postgresNotifications(url: string, db: Database, connectTimeoutMs: number): ChangeNotifications {
  return {
    async notify(topic) {
      try {
        await db.$executeRawUnsafe(`SELECT pg_notify('${CHANNEL}', '${topic}')`);
      } catch (error) {
        log.warn("could not announce a change", { error: (error as Error).message });
      }
    },
    listen(onChange) {
      let stopped = false;
      let client: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      let ping: NodeJS.Timeout | undefined;
      const connect = async (delayMs: number) => {
        client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, query_timeout: connectTimeoutMs * 2, keepAlive: true });
        const reconnect = () => {
          if (stopped || retry) return;
          clearInterval(ping);
          client?.removeAllListeners();
          void client?.end().catch(() => undefined);
          // Changes may have been missed while disconnected: report one, so the caller reloads.
          retry = setTimeout(() => {
            retry = undefined;
            void connect(Math.min(delayMs * 2, 30_000)).then(() => onChange("config"), () => undefined);
          }, delayMs);
          retry.unref();
        };
        client.on("notification", (message) => {
          if (message.payload && TOPICS.has(message.payload)) onChange(message.payload as ChangeTopic);
        });
        client.on("error", reconnect);
        client.on("end", reconnect);
        try {
          await client.connect();
          await client.query(`LISTEN ${CHANNEL}`);
          // A link that silently lost packets leaves a connection that looks open and hears nothing: ping it.
          const listening = client;
          ping = setInterval(() => void listening.query("SELECT 1").catch(reconnect), 30_000);
          ping.unref();
        } catch (error) {
          log.warn("change notifications unavailable; retrying", { error: (error as Error).message, retryInSeconds: delayMs / 1000 });
          reconnect();
          throw error;
        }
      };
      void connect(1000).catch(() => undefined);
      return async () => {
        stopped = true;
        clearTimeout(retry);
        clearInterval(ping);
        client?.removeAllListeners();
        await client?.end().catch(() => undefined);
      };
    },
  };
}

/** Longest wait for the Redis connection before a notification is given up (the database's own path still carries it), in milliseconds. */
const PUBLISH_WAIT_MS = 500;

/** Where Redis pub/sub carries change notifications: REDIS_URL and REDIS_PREFIX. */
export interface RedisChannel {
  url: string;
  prefix: string;
}

/**
 * Notifications through Redis pub/sub. Publishing and subscribing each have a connection of their own
 * (a subscribed connection can do nothing else); neither waits for Redis nor fails when it is down.
 * When the subscriber comes back after an outage it reports a change, so the caller catches up.
 */
function redisNotifications(channel: RedisChannel): ChangeNotifications & { close(): Promise<void> } {
  const publisher = openRedis(channel.url, channel.prefix, { purpose: "change notifications" });
  const name = publisher.key("changes");
  return {
    async notify(topic) {
      try {
        // A process that writes right after starting (the CLI) waits a moment for the connection.
        if (!(await publisher.ready(PUBLISH_WAIT_MS))) throw new Error("redis unreachable");
        await publisher.client.publish(name, topic);
      } catch (error) {
        log.debug("could not announce a change through redis", { error: (error as Error).message });
      }
    },
    listen(onChange) {
      const subscriber = openRedis(channel.url, channel.prefix, { purpose: "change notifications" });
      let subscribedOnce = false;
      subscriber.client.on("message", (from: string, topic: string) => {
        if (from === name && TOPICS.has(topic)) onChange(topic as ChangeTopic);
      });
      // On every (re)connection: subscribe (again), and after the first time report a change, since
      // messages published while the connection was down are lost.
      subscriber.client.on("ready", () => {
        subscriber.client.subscribe(name).then(
          () => {
            if (subscribedOnce) onChange("config");
            subscribedOnce = true;
          },
          (error: Error) => log.warn("could not subscribe to change notifications", { error: error.message }),
        );
      });
      return () => subscriber.close();
    },
    close: () => publisher.close(),
  };
}

/** Announces through every transport given, and hears from all of them. */
function together(transports: readonly ChangeNotifications[]): ChangeNotifications {
  return {
    async notify(topic) {
      await Promise.all(transports.map((t) => t.notify(topic)));
    },
    listen(onChange) {
      const stops = transports.map((t) => t.listen(onChange));
      return async () => {
        await Promise.all(stops.map((stop) => stop()));
      };
    },
  };
}

/**
 * The change notifications of a database (PostgreSQL NOTIFY, or the watched file beside SQLite), and
 * Redis pub/sub as well when `redis` is given. `close` ends the publishing connection to Redis.
 */
export function changeNotifications(kind: DatabaseKind, url: string, db: Database, connectTimeoutMs: number, redis?: RedisChannel): ChangeNotifications & { close(): Promise<void> } {
  const database = kind === "sqlite" ? sqliteNotifications(url) : postgresNotifications(url, db, connectTimeoutMs);
  if (!redis) return { ...database, close: async () => undefined };
  const viaRedis = redisNotifications(redis);
  return { ...together([database, viaRedis]), close: viaRedis.close };
}
