// The storage layer on both databases: what is stored (never a secret in clear), the oidc-provider
// adapter's atomic consume and grant revocation, purging, and migrations applied exactly once.
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { directSql, openDatabase } from "../../src/storage/database.ts";
import { createServices, type Services } from "../../src/services/index.ts";

describe.each(BACKENDS)("storage on %s", (backend) => {
  let db: FreshDatabase;
  let storage: Storage;
  let services: Services;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    storage = await openStorage(db.url);
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
  });

  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  test("migrations apply once; opening again changes nothing", async () => {
    const again = await openStorage(db.url);
    await again.ping();
    await again.close();
    expect(await storage.clients.list()).toEqual([]);
  });

  test("a user reads back as written, by id, username and email (the lookups run on the driver, past Prisma)", async () => {
    const input = {
      id: "u-read-back",
      username: "Zoë",
      email: "zoe@example.com",
      passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
      claims: { name: "Zoë Ñ", email_verified: true, address: { country: "FR" }, age: 42 },
      roles: ["admin", "ops"],
      enabled: false,
      passwordChangeRequired: true,
    };
    const created = await storage.users.create(input);
    const plain = await storage.users.create({ ...input, id: "u-plain", username: "plain", email: null, claims: {}, roles: [], enabled: true, passwordChangeRequired: false });
    expect(created).toMatchObject(input);
    expect(await storage.users.findById(input.id)).toEqual(created);
    expect(await storage.users.findByUsername("Zoë")).toEqual(created);
    expect(await storage.users.findByEmail("zoe@example.com")).toEqual(created);
    expect(await storage.users.findById("u-plain")).toEqual(plain);
    expect((await storage.users.findById("u-plain"))!.enabled).toBe(true);
    expect(await storage.users.findByUsername("zoë")).toBeNull();
    expect(await storage.users.findById("nobody")).toBeNull();
    expect(await storage.users.findById("nul\u0000id")).toBeNull();
  });

  test("statements on the driver connect again after a disconnect, as Prisma's own do", async () => {
    const raw = await openDatabase(db.url);
    try {
      expect(await directSql(raw).query(`SELECT COUNT(*) AS "n" FROM "User" WHERE "id" = $1`, ["nobody"])).toEqual([{ n: expect.anything() }]);
      await raw.$disconnect();
      expect(await directSql(raw).execute(`DELETE FROM "User" WHERE "id" = $1`, ["nobody"])).toBe(0);
      expect(await raw.user.count()).toBeGreaterThanOrEqual(0);
    } finally {
      await raw.$disconnect();
    }
  });

  test("a client secret is stored only as an argon2id hash", async () => {
    const { client, client_secret: clientSecret } = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"] });
    expect(clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await storage.clients.find(client.client_id);
    expect(stored!.secretHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(JSON.stringify(stored)).not.toContain(clientSecret);
    expect(JSON.stringify(await services.clients.get(client.client_id))).not.toMatch(/argon2|secretHash/);
  });

  test("signing keys are stored encrypted and cannot be read with another secret", async () => {
    await services.keys.ensure("ES256");
    const [key] = await storage.keys.list();
    const { keys } = await services.keys.privateJwks();
    const d = (keys[0] as { d: string }).d;
    expect(key!.privateKeyEncrypted).toMatch(/^v1\./);
    expect(key!.privateKeyEncrypted).not.toContain(d);
    expect(JSON.stringify(key!.publicJwk)).not.toContain(d);
    const wrong = createServices(storage, { keyEncryptionSecret: "another-secret-that-is-long-enough-to-pass" });
    await expect(wrong.keys.privateJwks()).rejects.toThrow(/KEY_ENCRYPTION_SECRET/);
  });

  test.each(["RS256", "EdDSA"] as const)("%s keys can be generated and rotated to", async (alg) => {
    const rotation = await services.keys.rotate({ alg });
    await services.keys.rotate({ alg });
    const active = (await services.keys.list()).find((k) => k.status === "active");
    expect(active!.alg).toBe(alg);
    expect(rotation.retired).toEqual(expect.any(String));
  });

  test("the adapter consumes an artifact exactly once under concurrency", async () => {
    const Adapter = storage.oidcAdapter({ findClient: () => undefined, alreadyConsumed: () => new Error("already consumed"), refreshTokenReuseGrace: () => 0 });
    const codes = new Adapter("AuthorizationCode");
    await codes.upsert("code-1", { grantId: "g1", kind: "AuthorizationCode" }, 60);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => codes.consume("code-1")));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await codes.find("code-1"))!.consumed).toEqual(expect.any(Number));
  });

  test("a consumed refresh token reads as unused once more within its client's grace period, and only once", async () => {
    const Adapter = storage.oidcAdapter({
      findClient: () => undefined,
      alreadyConsumed: () => new Error("already consumed"),
      refreshTokenReuseGrace: (clientId) => (clientId === "graceful" ? 30 : 0),
    });
    const tokens = new Adapter("RefreshToken");
    await tokens.upsert("rt-graceful", { grantId: "g9", clientId: "graceful", kind: "RefreshToken" }, 60);
    await tokens.upsert("rt-strict", { grantId: "g9", clientId: "strict", kind: "RefreshToken" }, 60);
    for (const id of ["rt-graceful", "rt-strict"]) await tokens.consume(id);
    expect((await tokens.find("rt-strict"))!.consumed).toEqual(expect.any(Number));
    await expect(tokens.consume("rt-strict")).rejects.toThrow("already consumed");
    // Within the grace period: unused once more, and of concurrent second rotations exactly one passes.
    expect((await tokens.find("rt-graceful"))!.consumed).toBeUndefined();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => tokens.consume("rt-graceful")));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await tokens.find("rt-graceful"))!.consumed).toEqual(expect.any(Number));
  });

  test("the adapter finds by uid and user code, revokes by grant and hides expired records", async () => {
    const Adapter = storage.oidcAdapter({ findClient: () => undefined, alreadyConsumed: () => new Error("x"), refreshTokenReuseGrace: () => 0 });
    const interactions = new Adapter("Interaction");
    const tokens = new Adapter("RefreshToken");
    const devices = new Adapter("DeviceCode");
    await interactions.upsert("i1", { uid: "u-1", kind: "Interaction" }, 60);
    await devices.upsert("d1", { userCode: "ABCD-EFGH", grantId: "g2" }, 60);
    await tokens.upsert("r1", { grantId: "g2" }, 60);
    await tokens.upsert("r2", { grantId: "g3" }, 60);
    await tokens.upsert("old", { grantId: "g4" }, 1);
    expect(await interactions.findByUid("u-1")).toMatchObject({ uid: "u-1" });
    expect(await devices.findByUserCode("ABCD-EFGH")).toMatchObject({ grantId: "g2" });
    await tokens.revokeByGrantId("g2");
    expect(await tokens.find("r1")).toBeUndefined();
    expect(await devices.findByUserCode("ABCD-EFGH")).toBeUndefined();
    expect(await tokens.find("r2")).toMatchObject({ grantId: "g3" });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await tokens.find("old")).toBeUndefined();
    const purged = await storage.purgeExpired({ throttleIdleSeconds: 3600 });
    expect(purged.artifacts).toBeGreaterThanOrEqual(1);
  });

  test("an opaque access token destroyed, alone or with its grant, goes on the revocation list by its value; other artifacts do not", async () => {
    const since = new Date(Date.now() - 1000);
    const Adapter = storage.oidcAdapter({ findClient: () => undefined, alreadyConsumed: () => new Error("x"), refreshTokenReuseGrace: () => 0 });
    const access = new Adapter("AccessToken");
    const machine = new Adapter("ClientCredentials");
    const refresh = new Adapter("RefreshToken");
    await access.upsert("opaque-a", { grantId: "g-opaque" }, 600);
    await access.upsert("opaque-b", { grantId: "g-other" }, 600);
    await machine.upsert("opaque-cc", { clientId: "c1" }, 600);
    await refresh.upsert("refresh-r", { grantId: "g-opaque" }, 600);
    await machine.destroy("opaque-cc");
    await access.revokeByGrantId("g-opaque");
    const listed = (await storage.revocations.listSince(since)).filter((r) => r.kind === "jti").map((r) => r.id).sort();
    expect(listed).toEqual(["opaque-a", "opaque-cc"]);
    // Until the token would have expired, no longer.
    const entry = (await storage.revocations.listSince(since)).find((r) => r.id === "opaque-a")!;
    expect(entry.expiresAt.getTime()).toBeGreaterThan(Date.now() + 590_000);
    expect(entry.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  test("revocations expire with the tokens they refuse", async () => {
    await storage.revocations.add({ kind: "jti", id: "live", expiresAt: new Date(Date.now() + 60_000) });
    await storage.revocations.add({ kind: "jti", id: "dead", expiresAt: new Date(Date.now() - 1000) });
    expect((await storage.revocations.listSince(new Date(0))).map((r) => r.id)).toContain("live");
    expect((await storage.revocations.listSince(new Date(0))).map((r) => r.id)).not.toContain("dead");
    expect((await storage.purgeExpired({ throttleIdleSeconds: 3600 })).revocations).toBe(1);
  });
});
