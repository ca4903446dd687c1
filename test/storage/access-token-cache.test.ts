// Opaque access tokens kept in memory by the oidc-provider adapter (oidc-adapter.ts), on a real SQLite
// database and a real revocation list: a token found once is handed out again without a query, and
// never after the revocation list refuses it (its value, its grant, its client's or its user's mark),
// whichever process wrote that entry.
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { directSql, openDatabase, type Database } from "../../src/storage/database.ts";
import { RevocationList } from "../../src/shared/revocation-list.ts";

describe("opaque access tokens kept in memory", () => {
  let db: FreshDatabase;
  let storage: Storage;
  let raw: Database;
  let revocations: RevocationList;
  let Adapter: ReturnType<Storage["oidcAdapter"]>;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    storage = await openStorage(db.url);
    raw = await openDatabase(db.url);
    revocations = new RevocationList(storage);
    Adapter = storage.oidcAdapter({
      findClient: () => undefined,
      alreadyConsumed: () => new Error("already consumed"),
      refreshTokenReuseGrace: () => 0,
      revokeAccessToken: (id, expiresAt) => revocations.revoke("jti", id, expiresAt),
      revocations,
    });
  });

  afterAll(async () => {
    await raw?.$disconnect();
    await storage?.close();
    await db?.drop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  /** Saves an opaque token of `model` as oidc-provider does (jti = its value). */
  async function issue(model: "AccessToken" | "ClientCredentials", id: string, extra: Record<string, unknown> = {}) {
    const iat = now() - 5;
    await new Adapter(model).upsert(id, { jti: id, kind: model, clientId: "worker", iat, exp: iat + 600, ...extra }, 600);
  }
  /** Deletes the row behind the adapter's back, so that only its memory can still hand the token out. */
  const deleteRow = (id: string) => directSql(raw).execute(`DELETE FROM "OidcArtifact" WHERE "id" = $1`, [id]);
  /** Another process's revocation: stored only, then loaded by this process's list as a change notification would make it. */
  async function revokedElsewhere(entry: Parameters<Storage["revocations"]["add"]>[0]) {
    await storage.revocations.add(entry);
    await revocations.sync();
  }

  test("a token found once is found again without its row, each time as a copy of its own", async () => {
    await issue("ClientCredentials", "cc-kept");
    const first = await new Adapter("ClientCredentials").find("cc-kept");
    expect(first).toMatchObject({ jti: "cc-kept", clientId: "worker" });
    await deleteRow("cc-kept");
    const again = await new Adapter("ClientCredentials").find("cc-kept");
    expect(again).toEqual(first);
    again!.clientId = "changed by a caller";
    expect((await new Adapter("ClientCredentials").find("cc-kept"))!.clientId).toBe("worker");
  });

  test("a value kept as one model is not found as the other (introspection asks both), and a miss is not kept", async () => {
    await issue("ClientCredentials", "cc-model");
    await new Adapter("ClientCredentials").find("cc-model");
    expect(await new Adapter("AccessToken").find("cc-model")).toBeUndefined();
    expect(await new Adapter("AccessToken").find("not-yet")).toBeUndefined();
    await issue("AccessToken", "not-yet", { accountId: "u1", grantId: "g-not-yet" });
    expect(await new Adapter("AccessToken").find("not-yet")).toMatchObject({ jti: "not-yet" });
  });

  test("destroyed here (RFC 7009 revocation): gone at once", async () => {
    await issue("AccessToken", "at-destroyed", { accountId: "u1", grantId: "g-destroyed" });
    const tokens = new Adapter("AccessToken");
    expect(await tokens.find("at-destroyed")).toBeDefined();
    await tokens.destroy("at-destroyed");
    expect(await tokens.find("at-destroyed")).toBeUndefined();
  });

  test("its grant revoked here (refresh token reuse): gone at once", async () => {
    await issue("AccessToken", "at-grant", { accountId: "u1", grantId: "g-reused" });
    const tokens = new Adapter("AccessToken");
    expect(await tokens.find("at-grant")).toBeDefined();
    await new Adapter("RefreshToken").revokeByGrantId("g-reused");
    expect(await tokens.find("at-grant")).toBeUndefined();
  });

  test.each(["jti", "grant", "client", "subject"] as const)("revoked by another process (a %s entry): refused as soon as this process's list has the entry", async (kind) => {
    const id = `at-elsewhere-${kind}`;
    const owner = { accountId: `u-${kind}`, grantId: `g-${kind}`, clientId: `worker-${kind}` };
    await issue("AccessToken", id, owner);
    const tokens = new Adapter("AccessToken");
    expect(await tokens.find(id)).toBeDefined();
    await deleteRow(id);
    expect(await tokens.find(id)).toBeDefined(); // kept: the other process's change has not reached this one yet
    const expiresAt = new Date(Date.now() + 600_000);
    const named = { jti: id, grant: owner.grantId, client: owner.clientId, subject: owner.accountId }[kind];
    await revokedElsewhere(kind === "client" || kind === "subject" ? { kind, id: named, notBefore: new Date(), expiresAt } : { kind, id: named, expiresAt });
    expect(await tokens.find(id)).toBeUndefined();
  });

  test("a token the list refuses is not handed out even while its row is still there (read from the table, not only when kept)", async () => {
    await issue("AccessToken", "at-row-outlived", { accountId: "u-outlived", grantId: "g-outlived" });
    await revokedElsewhere({ kind: "subject", id: "u-outlived", notBefore: new Date(), expiresAt: new Date(Date.now() + 600_000) });
    expect(await new Adapter("AccessToken").find("at-row-outlived")).toBeUndefined();
    expect(await new Adapter("AccessToken").find("at-row-outlived")).toBeUndefined();
  });

  test("an exchanged token ends with the grant it was exchanged from (RFC 8693; its extra sgid)", async () => {
    await issue("AccessToken", "at-exchanged", { accountId: "u1", grantId: "g-own", extra: { sgid: ["g-subject"], sclient: ["frontend"] } });
    const tokens = new Adapter("AccessToken");
    expect(await tokens.find("at-exchanged")).toBeDefined();
    await revokedElsewhere({ kind: "grant", id: "g-subject", expiresAt: new Date(Date.now() + 600_000) });
    expect(await tokens.find("at-exchanged")).toBeUndefined();
  });

  test("a token issued after its client's not-before mark is kept and handed out", async () => {
    await revokedElsewhere({ kind: "client", id: "worker-marked", notBefore: new Date(Date.now() - 60_000), expiresAt: new Date(Date.now() + 600_000) });
    await issue("ClientCredentials", "cc-after-mark", { clientId: "worker-marked" });
    const tokens = new Adapter("ClientCredentials");
    expect(await tokens.find("cc-after-mark")).toBeDefined();
    await deleteRow("cc-after-mark");
    expect(await tokens.find("cc-after-mark")).toBeDefined();
  });

  test("kept no longer than its exp", async () => {
    const iat = now() - 10;
    await new Adapter("ClientCredentials").upsert("cc-short", { jti: "cc-short", kind: "ClientCredentials", clientId: "worker", iat, exp: now() + 1 }, 1);
    expect(await new Adapter("ClientCredentials").find("cc-short")).toBeDefined();
    await deleteRow("cc-short");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await new Adapter("ClientCredentials").find("cc-short")).toBeUndefined();
  });

  test("without a revocation list nothing is kept: every find reads the table", async () => {
    const Plain = storage.oidcAdapter({ findClient: () => undefined, alreadyConsumed: () => new Error("x"), refreshTokenReuseGrace: () => 0 });
    await issue("ClientCredentials", "cc-plain");
    expect(await new Plain("ClientCredentials").find("cc-plain")).toBeDefined();
    await deleteRow("cc-plain");
    expect(await new Plain("ClientCredentials").find("cc-plain")).toBeUndefined();
  });
});
