// Keyed configuration changes (issue 11): a change to one client, API, scope or issuer reloads that
// entry alone in every process's catalog, on SQLite and PostgreSQL; a move of the revision the change
// log cannot account for reloads everything.
import { Catalog } from "../../src/authorization-server/catalog.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { ChangeFeed, type Revisions } from "../../src/shared/change-feed.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";

describe.each(BACKENDS)("keyed configuration changes on %s", (backend) => {
  let db: FreshDatabase;
  let writer: Storage;
  let services: Services;
  let reader: Storage;
  let feed: ChangeFeed;
  let catalog: Catalog;
  let fullLoads = 0;
  const seen: Revisions[] = [];

  beforeAll(async () => {
    db = await freshDatabase(backend);
    writer = await openStorage(db.url);
    services = createServices(writer, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
    // The reader stands for another instance: its own connection, its own catalog.
    reader = await openStorage(db.url, { migrate: false });
    const load = reader.clients.forEachOriginSource.bind(reader.clients);
    reader.clients.forEachOriginSource = async (...args) => {
      fullLoads++;
      return load(...args);
    };
    catalog = new Catalog(reader);
    await catalog.refresh({ force: true });
    // A poll interval no test waits for: every change below is applied by an explicit tick().
    feed = new ChangeFeed(reader, 3_600_000);
    feed.subscribe("catalog", async (revisions) => {
      seen.push(revisions);
      await catalog.refresh({ version: revisions.config, changes: revisions.configChanges });
    });
    await feed.tick();
    fullLoads = 0;
  });

  afterAll(async () => {
    await feed.stop();
    await reader.close();
    await writer.close();
    await db.drop();
  });

  // The admin API answers a write only after tick() resolves (admin/index.ts): before, a tick asked for
  // while a poll was running resolved with that poll, which had read the revisions before the write.
  test("a tick asked for while a poll is running resolves after a run that saw the change made before it", async () => {
    const runs: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = new ChangeFeed(reader, 3_600_000);
    slow.subscribe("slow", async (revisions) => {
      if (runs.length === 0) await gate;
      runs.push(revisions.config);
    });
    const first = slow.tick();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the first run has read the revisions and waits in its subscriber
    await services.scopes.apply({ name: "feed:follow-up", description: "A change made during a poll" });
    const after = (await writer.revisions.read()).config;
    const second = slow.tick();
    release();
    await second;
    expect(runs.at(-1)).toBe(after);
    await first;
    await slow.stop();
    await feed.tick(); // the suite's own feed takes the change in too, so that the next test sees only its own
  });

  test("stop() resolves once no run is in progress, and no run starts after it (the database is closed next)", async () => {
    let active = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = new ChangeFeed(reader, 3_600_000);
    held.subscribe("held", async () => {
      active++;
      runs++;
      if (runs === 1) await gate;
      active--;
    });
    void held.tick();
    await new Promise((resolve) => setTimeout(resolve, 50));
    void held.tick(); // a follow-up asked for while the first run is held
    const stopped = held.stop();
    release();
    await stopped;
    expect(active).toBe(0);
    await held.tick();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runs).toBe(1);
  });

  test("a created, changed and deleted client is reloaded alone, never the whole catalog", async () => {
    const { client } = await services.clients.create({ client_name: "Reports", grant_types: ["client_credentials"], scopes: [] } as never);
    await feed.tick();
    // Held once in use (oidc-provider asks for it first in every request naming it).
    expect(await catalog.findClientMetadata(client.client_id)).toMatchObject({ client_name: "Reports" });
    expect(catalog.client(client.client_id)?.name).toBe("Reports");
    expect(seen.at(-1)!.configChanges?.changes.map((c) => [c.entity, c.key])).toEqual([["client", client.client_id]]);

    await services.clients.update(client.client_id, { enabled: false } as never);
    await feed.tick();
    expect(catalog.client(client.client_id)?.enabled).toBe(false);
    expect(catalog.clientMetadata(client.client_id)).toBeUndefined(); // a disabled client is no client to oidc-provider

    await services.clients.delete(client.client_id);
    await feed.tick();
    expect(catalog.client(client.client_id)).toBeUndefined();
    expect(catalog.clientMetadata(client.client_id)).toBeUndefined();
    expect(fullLoads).toBe(0);
  });

  test("an API's scopes join the scope names at once, and leave with it", async () => {
    await services.apis.create({ identifier: "https://ledger.example", name: "Ledger", scopes: ["ledger:read"] } as never);
    await feed.tick();
    expect(catalog.api("https://ledger.example")?.name).toBe("Ledger");
    expect(catalog.scopeNames()).toContain("ledger:read");
    await services.apis.delete("https://ledger.example");
    await feed.tick();
    expect(catalog.api("https://ledger.example")).toBeUndefined();
    expect(catalog.scopeNames()).not.toContain("ledger:read");
    expect(fullLoads).toBe(0);
  });

  test("several changes between two polls are applied together, in order", async () => {
    const a = await services.clients.create({ client_name: "A", grant_types: ["client_credentials"], scopes: [] } as never);
    const b = await services.clients.create({ client_name: "B", grant_types: ["client_credentials"], scopes: [] } as never);
    await catalog.findClientMetadata(a.client.client_id);
    await services.clients.update(a.client.client_id, { client_name: "A2" } as never);
    await feed.tick();
    expect(seen.at(-1)!.configChanges?.changes).toHaveLength(3);
    expect(catalog.client(a.client.client_id)?.name).toBe("A2");
    expect(catalog.client(b.client.client_id)).toBeUndefined(); // not in use here: looked up when first asked for
    expect(await catalog.findClientMetadata(b.client.client_id)).toMatchObject({ client_name: "B" });
    expect(fullLoads).toBe(0);
  });

  test("a client id refused a moment ago as unknown is found once it is created elsewhere", async () => {
    // The negative cache remembers the unknown id (so unknown ids cannot hammer the database)...
    const early = await services.clients.create({ client_name: "Early", grant_types: ["client_credentials"], scopes: [] } as never);
    await services.clients.delete(early.client.client_id);
    await feed.tick();
    expect(await catalog.findClientMetadata(early.client.client_id)).toBeUndefined();
    // ...and a change naming it forgets that, so the id is looked up again.
    const { client } = await services.clients.create({ client_name: "Late", grant_types: ["client_credentials"], scopes: [] } as never);
    expect(await catalog.findClientMetadata(client.client_id)).toBeDefined();
    await feed.tick();
    expect(catalog.client(client.client_id)?.name).toBe("Late");
  });

  test("a revision the log cannot account for (rows purged before the poll) reloads everything", async () => {
    const { client } = await services.clients.create({ client_name: "Purged", grant_types: ["client_credentials"], scopes: [] } as never);
    expect(await writer.revisions.purgeExpired(Date.now() + 2 * 24 * 3600_000)).toBeGreaterThan(0);
    await feed.tick();
    expect(seen.at(-1)!.configChanges).toBeNull();
    expect(fullLoads).toBe(1);
    expect(await catalog.findClientMetadata(client.client_id)).toMatchObject({ client_name: "Purged" });
  });
});

describe("the catalog's clients", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
  });
  afterAll(async () => {
    await storage.close();
    await db.drop();
  });

  test("only the clients in use are held, at most the cache's size, least recently used out first; every enabled client's CORS origins are known", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { client } = await services.clients.create({ client_name: `Web ${i}`, grant_types: ["authorization_code"], redirect_uris: [`https://app${i}.example/cb`], scopes: [] } as never);
      ids.push(client.client_id);
    }
    const catalog = new Catalog(storage, { clientCacheEntries: 2 });
    await catalog.refresh({ force: true });
    for (let i = 0; i < 4; i++) {
      expect(catalog.client(ids[i]!)).toBeUndefined();
      expect(catalog.isCorsOrigin(`https://app${i}.example`)).toBe(true);
      expect([...catalog.corsOrigins(ids[i]!)]).toEqual([`https://app${i}.example`]);
    }
    await catalog.findClientMetadata(ids[0]!);
    await catalog.findClientMetadata(ids[1]!);
    catalog.client(ids[0]!); // used again: ids[1] is now the least recently used
    await catalog.findClientMetadata(ids[2]!);
    expect(catalog.client(ids[1]!)).toBeUndefined();
    expect(catalog.client(ids[0]!)?.name).toBe("Web 0");
    expect(catalog.client(ids[2]!)?.name).toBe("Web 2");
    // Evicted is not forgotten: it is looked up again.
    expect(await catalog.findClientMetadata(ids[1]!)).toMatchObject({ client_name: "Web 1" });
  });
});

describe("the change feed's start", () => {
  test("notes where the log stands, so the first change afterwards is applied by key", async () => {
    const db = await freshDatabase("sqlite");
    const storage = await openStorage(db.url);
    const services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
    await services.clients.create({ client_name: "Before", grant_types: ["client_credentials"], scopes: [] } as never);
    const feed = new ChangeFeed(storage, 3_600_000);
    const seen: Revisions[] = [];
    feed.subscribe("recorder", async (revisions) => {
      seen.push(revisions);
    });
    try {
      feed.start();
      // Let the start's own poll finish (nothing else polls: the interval is an hour, no change was announced).
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toHaveLength(1);
      await services.clients.create({ client_name: "After", grant_types: ["client_credentials"], scopes: [] } as never);
      await feed.tick();
      expect(seen.at(-1)!.configChanges?.changes.map((c) => c.entity)).toEqual(["client"]);
    } finally {
      await feed.stop();
      await storage.close();
      await db.drop();
    }
  });
});
