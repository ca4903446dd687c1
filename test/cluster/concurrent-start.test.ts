// Instances started at the same moment on a fresh PostgreSQL database (as an orchestrator starts
// replicas): every one of them starts, they prepare the database one after another under the start-up
// lock, and the database ends as one instance alone would leave it: one active and one next signing key,
// one admin user, one of each built-in client, scope and API. Every instance signs with the one active
// key, so a token from any instance is accepted at every instance's gateway and introspection.
// Repeated on a fresh database each round: the race it guards against did not show on every start.
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startCluster, type Cluster, type Credentials, basic, callGateway, introspect } from "../helpers/cluster.ts";
import { withServices } from "../helpers/seed.ts";
import { startUpstream, type Upstream } from "../helpers/upstream.ts";
import { openStorage } from "../../src/storage/index.ts";
import { ADMIN_API, ADMIN_SCOPES, CONSOLE_CLIENT_ID } from "../../src/admin/built-in.ts";
import { GATEWAY_CLIENT_ID } from "../../src/gateway/internal-client.ts";
import { encryptPrivateKey } from "../../src/services/keys.ts";
import type { Storage } from "../../src/storage/index.ts";

const ORDERS = "https://orders.example.com";
const ROUNDS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function requestToken(base: string, client: Credentials): Promise<{ status: number; body: { access_token?: string; error?: string } }> {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: { authorization: basic(client), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS }),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
}

async function eventually(what: string, done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe("three Gatehouse instances started at the same moment on a fresh PostgreSQL database", () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });

  afterAll(async () => {
    await upstream?.close();
  });

  for (let round = 1; round <= ROUNDS; round++) {
    test(`round ${round}: all start, the database is prepared once, and every instance accepts every instance's tokens`, async () => {
      const db: FreshDatabase = await freshDatabase("postgresql");
      let cluster: Cluster | undefined;
      try {
        cluster = await startCluster(db, { together: true, env: { LOG_LEVEL: "info" } });
        expect(cluster.instances.map((i) => [i.name, i.alive()])).toEqual([["gh0", true], ["gh1", true], ["gh2", true]]);

        // The database as one start alone leaves it.
        const storage = await openStorage(db.url, { migrate: false });
        let activeKid: string;
        try {
          const keys = await storage.keys.list();
          expect(keys.map((k) => k.status).sort()).toEqual(["active", "next"]);
          activeKid = keys.find((k) => k.status === "active")!.kid;
          const users = await storage.users.list();
          expect(users.map((u) => u.username)).toEqual(["admin"]);
          const clients = (await storage.clients.list()).map((c) => c.clientId).sort();
          expect(clients).toEqual([CONSOLE_CLIENT_ID, GATEWAY_CLIENT_ID].sort());
          expect((await storage.scopes.list()).map((s) => s.name).sort()).toEqual([ADMIN_SCOPES.read, ADMIN_SCOPES.write].sort());
          expect((await storage.apis.list()).map((a) => a.identifier)).toEqual([ADMIN_API]);
        } finally {
          await storage.close();
        }
        // For the record: how many instances found another one preparing the database and waited for it.
        const waited = cluster.instances.filter((i) => i.output().includes("another instance is preparing the database")).map((i) => i.name);
        console.log(`round ${round}: instances that waited for the start-up lock: ${waited.join(", ") || "none"}`);

        const worker = await withServices(db, async (services) => {
          await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
          await services.routes.apply(ORDERS, { path_prefix: "/orders", upstream: upstream.url, scopes: { GET: { all_of: ["orders:read"], any_of: [] } } });
          const { client, client_secret } = await services.clients.create({ client_name: "orders worker", grant_types: ["client_credentials"], scopes: ["orders:read"] });
          return { client_id: client.client_id, client_secret: client_secret! };
        });

        // A token from each instance (directly, not through the balancer), once each has the route and client.
        const tokens: Array<{ issuer: string; accessToken: string }> = [];
        for (const instance of cluster.instances) {
          let accessToken = "";
          await eventually(`a token and the route at ${instance.name}`, async () => {
            const answer = await requestToken(instance.url, worker);
            if (answer.status !== 200) return false;
            accessToken = answer.body.access_token!;
            return (await callGateway(instance.gateway, accessToken)).status === 200;
          });
          tokens.push({ issuer: instance.name, accessToken });
        }
        // Every instance signs with the one active key.
        expect(tokens.map((t) => [t.issuer, decodeProtectedHeader(t.accessToken).kid])).toEqual(cluster.instances.map((i) => [i.name, activeKid]));
        for (const { issuer, accessToken } of tokens) {
          for (const target of cluster.instances) {
            expect([issuer, target.name, await callGateway(target.gateway, accessToken)]).toEqual([issuer, target.name, { status: 200, body: "" }]);
            expect([issuer, target.name, await introspect(target.url, worker, accessToken)]).toEqual([issuer, target.name, true]);
          }
        }
      } finally {
        await cluster?.stop();
        await db.drop();
      }
    }, 60_000);
  }
});

// What a simultaneous start without the start-up lock could leave behind: several active and next keys.
describe("a signing key table left with several active and next keys", () => {
  /** Adds a key as KeyService would have created it; returns its kid. */
  async function addKey(storage: Storage, secret: string, status: "active" | "next"): Promise<string> {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(privateJwk);
    const { d, ...publicJwk } = privateJwk;
    await storage.keys.change({ basedOn: (await storage.revisions.read()).keys, create: [{ kid, alg: "ES256", status, publicJwk: { ...publicJwk, kid, alg: "ES256", use: "sig" }, privateKeyEncrypted: encryptPrivateKey(privateJwk, secret) }] });
    await sleep(5); // distinct creation times: the oldest is the one kept
    return kid;
  }

  const statuses = async (storage: Storage) => Object.fromEntries((await storage.keys.list()).map((k) => [k.kid, k.status]));
  const published = (storage: Storage) => storage.keys.list().then((keys) => keys.filter((k) => k.status !== "retired" || (k.expiresAt && k.expiresAt > new Date())).map((k) => k.kid));

  test("ensure keeps the oldest active and the oldest next key, and retires the others (the former active ones still published)", async () => {
    const db = await freshDatabase("sqlite");
    try {
      await withServices(db, async (services, storage) => {
        const secret = db.env.KEY_ENCRYPTION_SECRET!;
        const [a1, a2, n1, n2, n3] = [await addKey(storage, secret, "active"), await addKey(storage, secret, "active"), await addKey(storage, secret, "next"), await addKey(storage, secret, "next"), await addKey(storage, secret, "next")];
        expect(await services.keys.ensure("ES256")).toBe(true);
        expect(await statuses(storage)).toEqual({ [a1!]: "active", [a2!]: "retired", [n1!]: "next", [n2!]: "retired", [n3!]: "retired" });
        // a2 may have signed tokens: still published; n2 and n3 never signed: gone.
        expect((await published(storage)).sort()).toEqual([a1!, a2!, n1!].sort());
        // Only a1 signs.
        const jwks = await services.keys.privateJwks();
        expect(jwks.keys.filter((k) => !k.key_ops).map((k) => k.kid)).toEqual([a1]);
        // A sound table is left alone.
        expect(await services.keys.ensure("ES256")).toBe(false);
      });
    } finally {
      await db.drop();
    }
  });

  test("rotate retires every active key and ends with exactly one active and one next key", async () => {
    const db = await freshDatabase("sqlite");
    try {
      await withServices(db, async (services, storage) => {
        const secret = db.env.KEY_ENCRYPTION_SECRET!;
        const [a1, a2, n1, n2] = [await addKey(storage, secret, "active"), await addKey(storage, secret, "active"), await addKey(storage, secret, "next"), await addKey(storage, secret, "next")];
        const rotation = await services.keys.rotate();
        expect(rotation).toMatchObject({ active: n1, retired: a1 });
        const after = await statuses(storage);
        expect(after).toEqual({ [a1!]: "retired", [a2!]: "retired", [n1!]: "active", [n2!]: "retired", [rotation.next]: "next" });
        expect((await services.keys.privateJwks()).keys.filter((k) => !k.key_ops).map((k) => k.kid)).toEqual([n1]);
      });
    } finally {
      await db.drop();
    }
  });
});
