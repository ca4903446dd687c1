// CPU (in this Node process) and latency per oidc-provider adapter call: Gatehouse's PostgreSQL adapter
// (src/storage/oidc-adapter.ts through openStorage) against a minimal Redis adapter (ioredis: SET EX,
// GET, a Lua consume, DEL; what a Redis store for short-lived artifacts would at least do). Companion of
// login-cost.ts (issue 11): its per-flow call counts times these costs bound what a move could save.
//
//   node --experimental-strip-types test/bench/adapter-ops.ts [--calls 2000] [--rounds 2]
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { openStorage } from "../../src/storage/index.ts";
import { freshDatabase } from "../helpers/databases.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "2000" }, rounds: { type: "string", default: "2" } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);

interface Adapter {
  upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void>;
  find(id: string): Promise<unknown>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
}

/** A session-sized payload (about 1 KB of JSON), as oidc-provider stores Sessions and Interactions. */
function payload(i: number): Record<string, unknown> {
  return {
    iat: 1764553000 + i, exp: 1764556600 + i, uid: crypto.randomBytes(16).toString("base64url"), accountId: crypto.randomUUID(), loginTs: 1764553000, amr: ["pwd"],
    authorizations: { [crypto.randomBytes(12).toString("hex")]: { sid: crypto.randomBytes(16).toString("base64url"), grantId: crypto.randomBytes(21).toString("base64url"), persistsLogout: false } },
    params: { client_id: crypto.randomBytes(12).toString("hex"), redirect_uri: "http://127.0.0.1:9/callback", scope: "openid profile email orders:read", resource: "https://orders.example.com", code_challenge: crypto.randomBytes(32).toString("base64url"), code_challenge_method: "S256", state: crypto.randomBytes(8).toString("hex"), response_type: "code" },
    kind: "Session", jti: crypto.randomBytes(21).toString("base64url"), returnTo: `http://localhost:3000/auth/${crypto.randomBytes(21).toString("base64url")}`,
  };
}

const CONSUME = `local v = redis.call('GET', KEYS[1]) if not v then return 0 end local o = cjson.decode(v) if o.consumed then return -1 end o.consumed = tonumber(ARGV[1]) redis.call('SET', KEYS[1], cjson.encode(o), 'KEEPTTL') return 1`;

function redisAdapter(redis: Redis, model: string): Adapter {
  const key = (id: string) => `adapter-ops:${model}:${id}`;
  return {
    async upsert(id, data, expiresIn) {
      await redis.set(key(id), JSON.stringify(data), "EX", expiresIn ?? 3600);
    },
    async find(id) {
      const v = await redis.get(key(id));
      return v ? JSON.parse(v) : undefined;
    },
    async consume(id) {
      const r = await redis.eval(CONSUME, 1, key(id), String(Math.floor(Date.now() / 1000)));
      if (r !== 1) throw new Error("already consumed");
    },
    async destroy(id) {
      await redis.del(key(id));
    },
  };
}

async function measure(adapter: Adapter, ids: string[]): Promise<Record<string, { cpuUs: number; wallUs: number }>> {
  const out: Record<string, { cpuUs: number; wallUs: number }> = {};
  const step = async (name: string, call: (id: string, i: number) => Promise<unknown>) => {
    const cpu = process.cpuUsage();
    const began = performance.now();
    for (let i = 0; i < ids.length; i++) await call(ids[i]!, i);
    const used = process.cpuUsage(cpu);
    out[name] = { cpuUs: +((used.user + used.system) / ids.length).toFixed(0), wallUs: +((1000 * (performance.now() - began)) / ids.length).toFixed(0) };
  };
  const payloads = ids.map((_, i) => payload(i));
  await step("upsert (insert)", (id, i) => adapter.upsert(id, payloads[i]!, 600));
  await step("upsert (update)", (id, i) => adapter.upsert(id, payloads[i]!, 600));
  await step("find", (id) => adapter.find(id));
  await step("consume", (id) => adapter.consume(id));
  await step("destroy", (id) => adapter.destroy(id));
  return out;
}

const db = await freshDatabase("postgresql");
const storage = await openStorage(db.url);
const redis = new Redis(process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
try {
  const Pg = storage.oidcAdapter({ findClient: () => undefined, alreadyConsumed: () => new Error("already consumed"), refreshTokenReuseGrace: () => 0 });
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, adapter] of [["postgresql (Prisma)", new Pg("AuthorizationCode") as unknown as Adapter], ["redis (ioredis)", redisAdapter(redis, "AuthorizationCode")]] as const) {
      await measure(adapter, Array.from({ length: 200 }, () => crypto.randomBytes(21).toString("base64url"))); // warm-up
      const result = await measure(adapter, Array.from({ length: CALLS }, () => crypto.randomBytes(21).toString("base64url")));
      console.log(JSON.stringify({ round, adapter: name, load: (await import("node:fs")).readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "), perCall: result }));
    }
  }
} finally {
  const keys = await redis.keys("adapter-ops:*");
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await storage.close();
  await db.drop();
}
