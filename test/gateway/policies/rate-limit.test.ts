// The rate_limit policy end to end: real tokens from the authorization server, a real backend that
// records what reaches it, and the limits as the gateway enforces them — 429 with Retry-After and the
// draft-ietf-httpapi-ratelimit-headers fields, per client, per subject and per source address, several
// limits at once, refilled after the window, counted only after the token is accepted and never
// forwarded when refused. Each test uses its own clients, users or addresses, so counts never mix.
import { BACKENDS, freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";

const LIMITED = "https://limited.example.com";
const PASSWORD = "correct horse battery staple";
const CLIENTS = ["isolated-a", "isolated-b", "reset", "bad-token", "forwarding", "several"] as const;
type ClientName = (typeof CLIENTS)[number] | "people";

/** A window and a bit: the buckets of a per-second limit are full again. */
const nextWindow = () => new Promise((r) => setTimeout(r, 1100));

describe.each(BACKENDS)("rate_limit policy on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let upstream: Upstream;
  let gateway: string;
  const clients = {} as Record<ClientName, { id: string; secret: string }>;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    upstream = await startUpstream();
    await withServices(db, async (services) => {
      // Every route of the API: two requests per second per client.
      await services.apis.apply({
        identifier: LIMITED,
        name: "Limited",
        scopes: ["orders:read"],
        policies: { rate_limit: { limits: [{ by: "client", requests: 2, per: "second" }] } },
      });
      await services.routes.apply(LIMITED, { path_prefix: "/limited", upstream: upstream.url, rewrite: "keep" });
      // The API's limit and the route's both apply: three per minute per client, and the route's two per second.
      await services.routes.apply(LIMITED, {
        path_prefix: "/several",
        upstream: upstream.url,
        rewrite: "keep",
        policies: { rate_limit: { limits: [{ name: "several-per-minute", by: "client", requests: 3, per: "minute" }] } },
      });
      await services.routes.apply(LIMITED, {
        path_prefix: "/by-subject",
        upstream: upstream.url,
        rewrite: "keep",
        policies: { rate_limit: { limits: [{ by: "subject", requests: 1, per: "minute" }] } },
      });
      // By address on a route that needs a token: a refused token must not count.
      await services.routes.apply(LIMITED, {
        path_prefix: "/by-address",
        upstream: upstream.url,
        rewrite: "keep",
        policies: { rate_limit: { limits: [{ by: "address", requests: 2, per: "minute" }] } },
      });
      // A public route: only its address limits apply (the API's client limit has no client to count).
      await services.routes.apply(LIMITED, {
        path_prefix: "/public",
        upstream: upstream.url,
        rewrite: "keep",
        public: true,
        policies: { rate_limit: { limits: [{ by: "address", requests: 1, per: "minute", burst: 1 }] } },
      });
      for (const name of CLIENTS) {
        const created = await services.clients.create({ client_name: name, grant_types: ["client_credentials"], scopes: ["orders:read"] });
        clients[name] = { id: created.client.client_id, secret: created.client_secret! };
      }
      const people = await services.clients.create({ client_name: "people", grant_types: ["password"], scopes: ["orders:read"] });
      clients.people = { id: people.client.client_id, secret: people.client_secret! };
      for (const username of ["alice", "bob"]) await services.users.create({ username, password: PASSWORD });
    });
    // TRUST_PROXY=1: X-Forwarded-For names the caller, so tests can call from several addresses.
    gatehouse = await startGatehouse(db, { TRUST_PROXY: "1", LOG_LEVEL: "info" });
    gateway = `http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}`;
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await upstream?.close();
    await db?.drop();
  });

  async function token(name: ClientName, params: Record<string, string> = { grant_type: "client_credentials" }): Promise<string> {
    const { id, secret } = clients[name];
    const response = await fetch(`${gatehouse.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
      body: new URLSearchParams({ scope: "orders:read", resource: LIMITED, ...params }),
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`no token for ${name}: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  const call = (path: string, { token: bearer, address }: { token?: string; address?: string } = {}) =>
    fetch(`${gateway}${path}`, {
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(address ? { "x-forwarded-for": address } : {}) },
    });

  /** Status codes of `count` requests made one after the other. */
  async function statuses(count: number, path: string, options: { token?: string; address?: string }): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < count; i++) {
      const response = await call(path, options);
      await response.arrayBuffer();
      seen.push(response.status);
    }
    return seen;
  }

  const reached = (marker: string) => upstream.received.filter((r) => r.url.includes(marker)).length;

  test("over the limit: 429 with Retry-After, RateLimit-Policy and RateLimit, a JSON body naming the limit, and a decision log line", async () => {
    const bearer = await token("isolated-a");
    const first = await call("/limited/first", { token: bearer });
    expect(first.status).toBe(200);
    // Every answer says where the caller stands: the limit (q requests per w seconds), what is left (r) and when more comes (t).
    expect(first.headers.get("ratelimit-policy")).toBe('"client-per-second";q=2;w=1');
    expect(first.headers.get("ratelimit")).toMatch(/^"client-per-second";r=1;t=1$/);
    expect((await call("/limited/second", { token: bearer })).status).toBe(200);

    const refused = await call("/limited/third", { token: bearer });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("ratelimit-policy")).toBe('"client-per-second";q=2;w=1');
    expect(refused.headers.get("ratelimit")).toBe('"client-per-second";r=0;t=1');
    expect(refused.headers.get("content-type")).toMatch(/^application\/json/);
    expect(refused.headers.get("www-authenticate")).toBeNull();
    expect(await refused.json()).toEqual({
      error: "too_many_requests",
      error_description: "rate limit client-per-second exceeded: retry after 1 s",
      "violated-policies": ["client-per-second"],
    });
    const line = gatehouse
      .output()
      .split("\n")
      .find((l) => l.includes('"msg":"gateway refused"') && l.includes('"status":429'));
    expect(JSON.parse(line!)).toMatchObject({ level: "info", reason: "rate_limited", stage: "authorize", api: LIMITED, limit: "client-per-second", path: "/limited/third" });
  });

  test("each client has its own count", async () => {
    const [a, b] = [await token("isolated-a"), await token("isolated-b")];
    await nextWindow();
    expect(await statuses(3, "/limited/iso", { token: a })).toEqual([200, 200, 429]);
    // b's count is untouched by a's, and a token of the same client counts with the first.
    expect(await statuses(2, "/limited/iso", { token: b })).toEqual([200, 200]);
    expect(await statuses(1, "/limited/iso", { token: await token("isolated-a") })).toEqual([429]);
  });

  test("after the window the client may call again", async () => {
    const bearer = await token("reset");
    expect(await statuses(3, "/limited/reset", { token: bearer })).toEqual([200, 200, 429]);
    await nextWindow();
    expect(await statuses(3, "/limited/reset", { token: bearer })).toEqual([200, 200, 429]);
  });

  test("checked after the token: a refused token is not counted, and costs the caller nothing", async () => {
    for (const bad of ["not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]) {
      const response = await call("/by-address/bad", { token: bad, address: "198.51.100.20" });
      expect(response.status).toBe(401);
      // Nothing was counted, so nothing is reported.
      expect(response.headers.get("ratelimit")).toBeNull();
    }
    for (let i = 0; i < 3; i++) expect((await call("/by-address/bad", { address: "198.51.100.20" })).status).toBe(401);
    // The address's two requests are all still there for a good token.
    const good = await token("bad-token");
    expect(await statuses(2, "/by-address/good", { token: good, address: "198.51.100.20" })).toEqual([200, 200]);
    await nextWindow();
    const refused = await call("/by-address/good", { token: good, address: "198.51.100.20" });
    expect([refused.status, ((await refused.json()) as Record<string, unknown>)["violated-policies"]]).toEqual([429, ["address-per-minute"]]);
  });

  test("checked before forwarding: the backend never sees a refused request", async () => {
    const bearer = await token("forwarding");
    expect(await statuses(4, "/limited/unseen", { token: bearer })).toEqual([200, 200, 429, 429]);
    expect(reached("/limited/unseen")).toBe(2);
  });

  test("per subject: each user of the same client has their own count", async () => {
    const [alice, bob] = [
      await token("people", { grant_type: "password", username: "alice", password: PASSWORD }),
      await token("people", { grant_type: "password", username: "bob", password: PASSWORD }),
    ];
    expect(await statuses(2, "/by-subject/x", { token: alice })).toEqual([200, 429]);
    expect(await statuses(2, "/by-subject/x", { token: bob })).toEqual([200, 429]);
  });

  test("per source address on a public route: each address has its own count; the API's client limit does not apply", async () => {
    const first = await call("/public/p", { address: "203.0.113.7" });
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe('"address-per-minute";q=1;w=60');
    const refused = await call("/public/p", { address: "203.0.113.7" });
    expect([refused.status, refused.headers.get("retry-after")]).toEqual([429, "60"]);
    expect(await statuses(1, "/public/p", { address: "203.0.113.8" })).toEqual([200]);
    // IPv6 callers count per /64: another address of the same network shares the count.
    expect(await statuses(2, "/public/p", { address: "2001:db8:1:2::1" })).toEqual([200, 429]);
    expect(await statuses(1, "/public/p", { address: "2001:db8:1:2::ffff" })).toEqual([429]);
    expect(await statuses(1, "/public/p", { address: "2001:db8:1:3::1" })).toEqual([200]);
  });

  test("several limits at once: the API's and the route's each count, both are reported, the first used up refuses", async () => {
    const bearer = await token("several");
    const first = await call("/several/1", { token: bearer });
    expect(first.headers.get("ratelimit-policy")).toBe('"client-per-second";q=2;w=1, "several-per-minute";q=3;w=60');
    expect(first.headers.get("ratelimit")).toMatch(/^"client-per-second";r=1;t=1, "several-per-minute";r=2;t=\d+$/);
    expect((await call("/several/2", { token: bearer })).status).toBe(200);
    const perSecond = await call("/several/3", { token: bearer });
    expect([perSecond.status, ((await perSecond.json()) as Record<string, unknown>)["violated-policies"]]).toEqual([429, ["client-per-second"]]);
    // The per-second limit refused before the per-minute one counted: one request is left there.
    await nextWindow();
    expect((await call("/several/4", { token: bearer })).status).toBe(200);
    const perMinute = await call("/several/5", { token: bearer });
    expect([perMinute.status, ((await perMinute.json()) as Record<string, unknown>)["violated-policies"]]).toEqual([429, ["several-per-minute"]]);
    expect(Number(perMinute.headers.get("retry-after"))).toBeGreaterThan(1);
    expect(perMinute.headers.get("ratelimit")).toBe(`"several-per-minute";r=0;t=${perMinute.headers.get("retry-after")}`);
    expect(reached("/several/")).toBe(3);
  });
});
