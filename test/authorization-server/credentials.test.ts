// Password checks and their throttling (authorization-server/credentials) against real databases: the
// counting is one atomic statement per counter, so concurrent attempts through two storage connections
// (two instances) can never check more passwords than the limits allow.
import { PasswordCredentials } from "../../src/authorization-server/credentials/password-check.ts";
import { PasswordThrottle, type ThrottleSettings } from "../../src/authorization-server/credentials/throttle.ts";
import { throttleAddress, throttleKeys } from "../../src/shared/throttle-keys.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";

const SETTINGS: ThrottleSettings = {
  LOGIN_MAX_FAILURES: 5,
  LOGIN_WAIT_INCREMENT: 60,
  LOGIN_MAX_WAIT: 900,
  LOGIN_QUICK_FAILURE_MS: 0,
  LOGIN_ACCOUNT_MAX_FAILURES: 12,
  LOGIN_ADDRESS_MAX_FAILURES: 8,
  LOGIN_FAILURE_RESET: 3600,
};

const password = (username: string) => `${username}-password-123`;

describe.each(BACKENDS)("password credentials on %s", (backend) => {
  let db: FreshDatabase;
  let storage: Storage;
  let second: Storage;
  let services: Services;
  let addresses = 0;
  const address = () => `198.51.100.${++addresses}`;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    storage = await openStorage(db.url);
    second = await openStorage(db.url, { migrate: false });
    services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
    for (const username of ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]) {
      await services.users.create({ username, password: password(username) });
    }
    await services.users.create({ username: "mallory", password: password("mallory"), enabled: false });
  });

  afterAll(async () => {
    await second?.close();
    await storage?.close();
    await db?.drop();
  });

  test("right password, wrong password, unknown and disabled accounts", async () => {
    const credentials = new PasswordCredentials(storage, SETTINGS);
    const from = address();
    const valid = await credentials.check({ username: "alice", address: from }, password("alice"));
    expect(valid).toMatchObject({ outcome: "valid", user: { username: "alice" } });
    expect(await credentials.check({ username: "alice", address: from }, "wrong")).toEqual({ outcome: "invalid" });
    expect(await credentials.check({ username: "nobody", address: from }, password("alice"))).toEqual({ outcome: "invalid" });
    expect(await credentials.check({ username: "mallory", address: from }, password("mallory"))).toEqual({ outcome: "invalid" });
    expect(await credentials.check({ username: "alice", address: from }, "x".repeat(2000))).toEqual({ outcome: "invalid" });
  });

  test("30 concurrent attempts through two instances check exactly LOGIN_MAX_FAILURES passwords", async () => {
    const instances = [new PasswordCredentials(storage, SETTINGS), new PasswordCredentials(second, SETTINGS)];
    const from = address();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => instances[i % 2]!.check({ username: "bob", address: from }, i === 15 ? password("bob") : `wrong-${i}`)),
    );
    expect(results.filter((r) => r.outcome === "invalid")).toHaveLength(SETTINGS.LOGIN_MAX_FAILURES);
    expect(results.filter((r) => r.outcome === "throttled")).toHaveLength(30 - SETTINGS.LOGIN_MAX_FAILURES);
    expect(results[15]).toMatchObject({ outcome: "throttled", counter: "pair" });
  });

  test("a stranger is slowed with doubling waits; the owner elsewhere is not", async () => {
    const throttle = new PasswordThrottle(storage, { ...SETTINGS, LOGIN_ACCOUNT_MAX_FAILURES: 100, LOGIN_ADDRESS_MAX_FAILURES: 100 });
    const stranger = { username: "carol", address: address() };
    const start = Date.now();
    for (let i = 0; i < SETTINGS.LOGIN_MAX_FAILURES; i++) {
      expect(await throttle.reserve(stranger, start)).toEqual({ allowed: true });
      await throttle.failed(stranger, start);
    }
    expect(await throttle.reserve(stranger, start + 1000)).toMatchObject({ allowed: false, counter: "pair", retryAfterSeconds: 59 });
    // Each lock that runs out lets one attempt through, and the next lock is twice as long, up to LOGIN_MAX_WAIT.
    let at = start;
    for (const lock of [60, 120, 240, 480, 900, 900]) {
      at += lock * 1000;
      expect(await throttle.reserve(stranger, at)).toEqual({ allowed: true });
      await throttle.failed(stranger, at);
      expect(await throttle.reserve(stranger, at + 1)).toMatchObject({ allowed: false, retryAfterSeconds: lock * 2 > 900 ? 900 : lock * 2 });
    }
    const credentials = new PasswordCredentials(storage, SETTINGS);
    expect(await credentials.check({ username: "carol", address: address() }, password("carol"))).toMatchObject({ outcome: "valid" });
  });

  test("a refused attempt counts nowhere: insisting on a locked pair does not push the account to its ceiling", async () => {
    const throttle = new PasswordThrottle(storage, SETTINGS);
    const stranger = { username: "dave", address: address() };
    const now = Date.now();
    for (let i = 0; i < SETTINGS.LOGIN_MAX_FAILURES; i++) await throttle.reserve(stranger, now);
    for (let i = 0; i < 50; i++) expect((await throttle.reserve(stranger, now)).allowed).toBe(false);
    // Account ceiling 12: 5 counted so far, so 7 more from other addresses are still allowed.
    for (let i = 0; i < SETTINGS.LOGIN_ACCOUNT_MAX_FAILURES - SETTINGS.LOGIN_MAX_FAILURES; i++) {
      expect(await throttle.reserve({ username: "dave", address: address() }, now)).toEqual({ allowed: true });
    }
    expect(await throttle.reserve({ username: "dave", address: address() }, now)).toMatchObject({ allowed: false, counter: "account", retryAfterSeconds: 900 });
  });

  test("guesses spread over many addresses reach the account ceiling; an unknown username behaves the same", async () => {
    const throttle = new PasswordThrottle(storage, SETTINGS);
    const now = Date.now();
    for (const username of ["erin", "no-such-user"]) {
      for (let i = 0; i < SETTINGS.LOGIN_ACCOUNT_MAX_FAILURES; i++) {
        const attempt = { username, address: address() };
        expect(await throttle.reserve(attempt, now)).toEqual({ allowed: true });
        await throttle.failed(attempt, now);
      }
      expect(await throttle.reserve({ username, address: address() }, now)).toMatchObject({ allowed: false, counter: "account" });
    }
    expect(await services.users.unlock("erin")).toBeGreaterThanOrEqual(0);
    expect(await throttle.reserve({ username: "erin", address: address() }, now)).toEqual({ allowed: true });
  });

  test("one address across many usernames reaches the address ceiling; success gives the attempt back", async () => {
    const throttle = new PasswordThrottle(storage, SETTINGS);
    const from = address();
    const now = Date.now();
    for (let i = 0; i < SETTINGS.LOGIN_ADDRESS_MAX_FAILURES - 1; i++) {
      await throttle.reserve({ username: `sprayed-${i}`, address: from }, now);
    }
    // A success from the same address (say, one office behind a NAT) does not count against it.
    const credentials = new PasswordCredentials(storage, SETTINGS);
    expect(await credentials.check({ username: "frank", address: from }, password("frank"))).toMatchObject({ outcome: "valid" });
    expect(await throttle.reserve({ username: "sprayed-last", address: from }, now)).toEqual({ allowed: true });
    expect(await throttle.reserve({ username: "frank", address: from }, now)).toMatchObject({ allowed: false, counter: "address" });
  });

  test("two failures closer than LOGIN_QUICK_FAILURE_MS lock the pair at once", async () => {
    const throttle = new PasswordThrottle(storage, { ...SETTINGS, LOGIN_QUICK_FAILURE_MS: 1000 });
    const attempt = { username: "grace", address: address() };
    const now = Date.now();
    await throttle.reserve(attempt, now);
    await throttle.failed(attempt, now);
    await throttle.reserve(attempt, now + 2000);
    await throttle.failed(attempt, now + 2000);
    expect(await throttle.reserve(attempt, now + 2500)).toEqual({ allowed: true });
    await throttle.failed(attempt, now + 2500);
    expect(await throttle.reserve(attempt, now + 2600)).toMatchObject({ allowed: false, counter: "pair", retryAfterSeconds: 60 });
  });

  test("an owner whose account a crowd has locked is refused by that lock alone: neither their account+address counter nor their address counter fills", async () => {
    const settings = { ...SETTINGS, LOGIN_MAX_FAILURES: 3, LOGIN_ACCOUNT_MAX_FAILURES: 11, LOGIN_ADDRESS_MAX_FAILURES: 5 };
    await services.users.create({ username: "yuri", password: password("yuri") });
    const throttle = new PasswordThrottle(storage, settings);
    const now = Date.now();
    for (let i = 0; i < settings.LOGIN_ACCOUNT_MAX_FAILURES; i++) {
      const attacker = { username: "yuri", address: address() };
      expect(await throttle.reserve(attacker, now)).toEqual({ allowed: true });
      await throttle.failed(attacker, now);
    }
    const owner = { username: "yuri", address: address() };
    for (let i = 0; i < 10; i++) expect(await throttle.reserve(owner, now + i)).toMatchObject({ allowed: false, counter: "account" });
    // The owner's address has every one of its attempts left for other accounts...
    for (let i = 0; i < settings.LOGIN_ADDRESS_MAX_FAILURES; i++) {
      expect(await throttle.reserve({ username: `yuri-neighbour-${i}`, address: owner.address }, now)).toEqual({ allowed: true });
    }
    // ...and once the account's lock ends, the owner's right password is checked and accepted.
    await storage.throttles.clear(throttleKeys.address(owner.address));
    await storage.throttles.clear(throttleKeys.account("yuri"));
    const credentials = new PasswordCredentials(storage, settings);
    expect(await credentials.check(owner, password("yuri"))).toMatchObject({ outcome: "valid", user: { username: "yuri" } });
  });

  test("an address locked for credential stuffing does not fill the counters of the accounts it keeps trying", async () => {
    const settings = { ...SETTINGS, LOGIN_MAX_FAILURES: 3, LOGIN_ACCOUNT_MAX_FAILURES: 11, LOGIN_ADDRESS_MAX_FAILURES: 5 };
    const throttle = new PasswordThrottle(storage, settings);
    const stuffer = address();
    const now = Date.now();
    for (let i = 0; i < settings.LOGIN_ADDRESS_MAX_FAILURES; i++) {
      const attempt = { username: `stuffed-${i}`, address: stuffer };
      expect(await throttle.reserve(attempt, now)).toEqual({ allowed: true });
      await throttle.failed(attempt, now);
    }
    for (let i = 0; i < 20; i++) expect(await throttle.reserve({ username: "zoe", address: stuffer }, now + i)).toMatchObject({ allowed: false, counter: "address" });
    // zoe's account ceiling is untouched: eleven more addresses may still try.
    for (let i = 0; i < settings.LOGIN_ACCOUNT_MAX_FAILURES; i++) expect(await throttle.reserve({ username: "zoe", address: address() }, now)).toEqual({ allowed: true });
    expect(await throttle.reserve({ username: "zoe", address: address() }, now)).toMatchObject({ allowed: false, counter: "account" });
  });

  test("a counter that refuses only when counting (it locked after the look at the locks) gives back what the others counted", async () => {
    const settings = { ...SETTINGS, LOGIN_MAX_FAILURES: 3, LOGIN_ACCOUNT_MAX_FAILURES: 4, LOGIN_ADDRESS_MAX_FAILURES: 100 };
    // A storage that never sees a lock before counting: every refusal comes from the atomic count itself.
    const blind = { ...storage, throttles: Object.assign(Object.create(storage.throttles), { lockedUntil: async () => 0 }) } as Storage;
    const throttle = new PasswordThrottle(blind, settings);
    const now = Date.now();
    for (let i = 0; i < settings.LOGIN_ACCOUNT_MAX_FAILURES; i++) expect(await throttle.reserve({ username: "victor", address: address() }, now)).toEqual({ allowed: true });
    const owner = { username: "victor", address: address() };
    for (let i = 0; i < 12; i++) expect(await throttle.reserve(owner, now)).toMatchObject({ allowed: false, counter: "account" });
    // Nothing of those twelve stayed on the owner's account+address counter.
    await storage.throttles.clear(throttleKeys.account("victor"));
    for (let i = 0; i < settings.LOGIN_MAX_FAILURES; i++) expect(await throttle.reserve(owner, now)).toEqual({ allowed: true });
    expect(await throttle.reserve(owner, now)).toMatchObject({ allowed: false, counter: "pair" });
  });

  test("concurrent attempts through two instances on a locked account are all refused by the account lock and counted nowhere", async () => {
    const settings = { ...SETTINGS, LOGIN_MAX_FAILURES: 3, LOGIN_ACCOUNT_MAX_FAILURES: 4, LOGIN_ADDRESS_MAX_FAILURES: 100 };
    const throttles = [new PasswordThrottle(storage, settings), new PasswordThrottle(second, settings)];
    const now = Date.now();
    for (let i = 0; i < settings.LOGIN_ACCOUNT_MAX_FAILURES; i++) expect(await throttles[0]!.reserve({ username: "wendy", address: address() }, now)).toEqual({ allowed: true });
    const owner = { username: "wendy", address: address() };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => throttles[i % 2]!.reserve(owner, now)));
    expect(results.filter((result) => !result.allowed && result.counter === "account")).toHaveLength(20);
    await storage.throttles.clear(throttleKeys.account("wendy"));
    for (let i = 0; i < settings.LOGIN_MAX_FAILURES; i++) expect(await throttles[1]!.reserve(owner, now)).toEqual({ allowed: true });
  });

  test("IPv6 addresses of one /64 share the account+address and address counters; an IPv4-mapped IPv6 address is its IPv4 address", async () => {
    const throttle = new PasswordThrottle(storage, { ...SETTINGS, LOGIN_ACCOUNT_MAX_FAILURES: 100 });
    const now = Date.now();
    for (let i = 1; i <= SETTINGS.LOGIN_MAX_FAILURES; i++) {
      const attempt = { username: "ipv6-target", address: `2001:db8:7:8::${i.toString(16)}` };
      expect(await throttle.reserve(attempt, now)).toEqual({ allowed: true });
      await throttle.failed(attempt, now);
    }
    expect(await throttle.reserve({ username: "ipv6-target", address: "2001:db8:7:8:ffff:1:2:3" }, now)).toMatchObject({ allowed: false, counter: "pair" });
    expect(await throttle.reserve({ username: "ipv6-target", address: "2001:0DB8:0007:0008:0:0:0:99" }, now)).toMatchObject({ allowed: false, counter: "pair" });
    expect(await throttle.reserve({ username: "ipv6-target", address: "2001:db8:7:9::1" }, now)).toEqual({ allowed: true });

    const v4 = address();
    for (let i = 0; i < SETTINGS.LOGIN_MAX_FAILURES; i++) {
      const attempt = { username: "mapped-target", address: i % 2 ? v4 : `::ffff:${v4}` };
      expect(await throttle.reserve(attempt, now)).toEqual({ allowed: true });
      await throttle.failed(attempt, now);
    }
    expect(await throttle.reserve({ username: "mapped-target", address: v4 }, now)).toMatchObject({ allowed: false, counter: "pair" });
    expect(await throttle.reserve({ username: "mapped-target", address: `::ffff:${v4}` }, now)).toMatchObject({ allowed: false, counter: "pair" });

    for (let i = 1; i <= SETTINGS.LOGIN_ADDRESS_MAX_FAILURES; i++) {
      expect(await throttle.reserve({ username: `v6-sprayed-${i}`, address: `2001:db8:aa:bb:${i}::1` }, now)).toEqual({ allowed: true });
    }
    expect(await throttle.reserve({ username: "v6-sprayed-last", address: "2001:db8:aa:bb::ffff" }, now)).toMatchObject({ allowed: false, counter: "address" });
  });

  test("a username with a NUL or a lone surrogate names no account: the answer is invalid and the database is not asked", async () => {
    const credentials = new PasswordCredentials(storage, SETTINGS);
    for (const username of ["frank\0", "fr\0ank", "\0", "frank\ud800", "\udfff"]) {
      expect(await credentials.check({ username, address: address() }, password("frank"))).toEqual({ outcome: "invalid" });
      expect(await storage.users.findByUsername(username)).toBeNull();
    }
    expect(await credentials.check({ username: "frank", address: address() }, "frank\0")).toEqual({ outcome: "invalid" });
    expect(await credentials.check({ username: "frank", address: address() }, password("frank"))).toMatchObject({ outcome: "valid" });
  });

  test("counters are forgotten after LOGIN_FAILURE_RESET without attempts, and purged", async () => {
    const throttle = new PasswordThrottle(storage, SETTINGS);
    const attempt = { username: "alice", address: address() };
    const then = Date.now() - 2 * SETTINGS.LOGIN_FAILURE_RESET * 1000;
    for (let i = 0; i < SETTINGS.LOGIN_MAX_FAILURES; i++) await throttle.reserve(attempt, then);
    expect(await throttle.reserve(attempt, then + 1000)).toMatchObject({ allowed: false });
    expect(await throttle.reserve(attempt, Date.now())).toEqual({ allowed: true });
    await storage.throttles.clear(`address:${attempt.address}`);
    const idle = { username: "idle-user", address: address() };
    await throttle.reserve(idle, then);
    expect((await storage.purgeExpired({ throttleIdleSeconds: SETTINGS.LOGIN_FAILURE_RESET })).throttles).toBeGreaterThanOrEqual(2);
  });
});

describe("throttle addresses", () => {
  test.each([
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:c000:0207", "192.0.2.7"],
    ["0:0:0:0:0:ffff:192.0.2.7", "192.0.2.7"],
    ["192.0.2.7:5123", "192.0.2.7"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::192.0.2.7", "64:ff9b:0:0::/64"],
    ["unknown", "unknown"],
    ["", ""],
  ])("%s is counted as %s", (address, counted) => {
    expect(throttleAddress(address)).toBe(counted);
  });

  test("the keys of one network are the same, of two networks different", () => {
    expect(throttleKeys.pair("alice", "2001:db8:1:2::1")).toBe(throttleKeys.pair("alice", "2001:db8:1:2::beef"));
    expect(throttleKeys.address("::ffff:198.51.100.1")).toBe(throttleKeys.address("198.51.100.1"));
    expect(throttleKeys.address("2001:db8:1:2::1")).not.toBe(throttleKeys.address("2001:db8:1:3::1"));
    expect(throttleKeys.pair("alice", "198.51.100.1").startsWith(throttleKeys.pairsOf("alice"))).toBe(true);
  });
});
