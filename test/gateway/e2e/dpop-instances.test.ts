// DPoP across instances (issue 11 §3, issue 12 §3): two Gatehouse processes on one PostgreSQL database
// (and, in the second run, one Redis in front of the replay store), each behind a trusted proxy
// (TRUST_PROXY=1), so both see the request URI the client used from X-Forwarded-Proto and -Host. A proof
// used at one instance's gateway is refused at the other's, which has never seen it in its own memory:
// the shared replay store decides. A server nonce one instance hands out is good at the other
// (DPOP_NONCE_SECRET shared).
import crypto from "node:crypto";
import * as oidc from "openid-client";
import { freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../../helpers/gatehouse.ts";
import { withServices } from "../../helpers/seed.ts";
import { dpopKey, type DpopKey } from "../../helpers/dpop.ts";
import { startUpstream, type Upstream } from "../../helpers/upstream.ts";

const ORDERS = "https://orders.example.com";
/** The URI the clients use, as the trusted proxy in front of both instances says. */
const PUBLIC = "https://api.example.com";
const FORWARDED = { "x-forwarded-proto": "https", "x-forwarded-host": "api.example.com", "x-forwarded-for": "203.0.113.7" };

describe.each([
  ["PostgreSQL", {}],
  ["PostgreSQL and Redis", { REDIS_URL: "redis://127.0.0.1:6379" }],
])("DPoP on two instances sharing %s", (_name, extraEnv: Record<string, string>) => {
  let db: FreshDatabase;
  let upstream: Upstream;
  const instances: RunningGatehouse[] = [];
  let client: { id: string; secret: string };
  let proofKey: DpopKey;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    upstream = await startUpstream();
    client = await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read orders" });
      await services.apis.apply({ identifier: ORDERS, name: "Orders", scopes: ["orders:read"] });
      await services.routes.apply(ORDERS, { path_prefix: "/orders", upstream: upstream.url, rewrite: "keep", scopes: { GET: { all_of: ["orders:read"], any_of: [] } } });
      await services.routes.apply(ORDERS, {
        path_prefix: "/nonce", upstream: upstream.url, rewrite: "keep", scopes: { GET: { all_of: ["orders:read"], any_of: [] } },
        policies: { dpop: { required: true, require_nonce: true } },
      });
      const created = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      return { id: created.client.client_id, secret: created.client_secret! };
    });
    const env = { TRUST_PROXY: "1", DPOP_REQUIRE_NONCE: "true", REDIS_PREFIX: `dpop-${crypto.randomUUID()}`, ...extraEnv };
    instances.push(await startGatehouse(db, env));
    // The second instance has the first one's issuer: one deployment behind one name.
    instances.push(await startGatehouse(db, { ...env, ISSUER: instances[0]!.issuer }));
    proofKey = await dpopKey();
  }, 120_000);

  afterAll(async () => {
    for (const instance of instances) await instance.stop();
    await upstream?.close();
    await db?.drop();
  });

  const proof = (claims: Record<string, unknown>) => proofKey.proof(claims);

  /** A token request at an instance's token endpoint (addressed by its own port). */
  async function tokenAt(instance: RunningGatehouse, dpop: string) {
    const response = await fetch(`http://localhost:${instance.port}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`, dpop },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS }),
    });
    return { status: response.status, nonce: response.headers.get("dpop-nonce"), body: (await response.json()) as Record<string, string> };
  }

  test("a nonce handed out by one instance gets a bound token at the other", async () => {
    const htu = `${instances[0]!.issuer}/token`;
    const first = await tokenAt(instances[0]!, await proof({ htm: "POST", htu }));
    expect([first.status, first.body.error]).toEqual([400, "use_dpop_nonce"]);
    const second = await tokenAt(instances[1]!, await proof({ htm: "POST", htu, nonce: first.nonce }));
    expect([second.status, second.body.token_type]).toEqual([200, "DPoP"]);
  });

  test("a proof used at one gateway is refused at the other (the shared replay store); each accepts fresh ones", async () => {
    const config = await oidc.discovery(new URL(instances[0]!.issuer), client.id, undefined, oidc.ClientSecretBasic(client.secret), { execute: [oidc.allowInsecureRequests] });
    const { access_token: token } = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: ORDERS }, { DPoP: oidc.getDPoPHandle(config, proofKey.pair) });
    const ath = crypto.createHash("sha256").update(token).digest("base64url");
    const call = (instance: RunningGatehouse, dpop: string) =>
      fetch(`http://127.0.0.1:${instance.env.GATEWAY_PORT}/orders/1?page=2`, { headers: { ...FORWARDED, authorization: `DPoP ${token}`, dpop } });
    const dpop = await proof({ htm: "GET", htu: `${PUBLIC}/orders/1`, ath });
    expect((await call(instances[0]!, dpop)).status).toBe(200);
    const replay = await call(instances[1]!, dpop);
    expect(replay.status).toBe(401);
    expect(replay.headers.get("www-authenticate")).toMatch(/^DPoP .*error="invalid_dpop_proof", error_description="the DPoP proof has been used before"/);
    for (const instance of instances) expect((await call(instance, await proof({ htm: "GET", htu: `${PUBLIC}/orders/1`, ath }))).status).toBe(200);
    // The gateway's own address is not the URI the client used behind the proxy.
    const own = await call(instances[1]!, await proof({ htm: "GET", htu: `http://127.0.0.1:${instances[1]!.env.GATEWAY_PORT}/orders/1`, ath }));
    expect(own.status).toBe(401);
  });

  test("a gateway nonce one instance hands out is good at the other", async () => {
    const config = await oidc.discovery(new URL(instances[0]!.issuer), client.id, undefined, oidc.ClientSecretBasic(client.secret), { execute: [oidc.allowInsecureRequests] });
    const { access_token: token } = await oidc.clientCredentialsGrant(config, { scope: "orders:read", resource: ORDERS }, { DPoP: oidc.getDPoPHandle(config, proofKey.pair) });
    const ath = crypto.createHash("sha256").update(token).digest("base64url");
    const call = async (instance: RunningGatehouse, nonce?: string) =>
      fetch(`http://127.0.0.1:${instance.env.GATEWAY_PORT}/nonce/1`, {
        headers: { ...FORWARDED, authorization: `DPoP ${token}`, dpop: await proof({ htm: "GET", htu: `${PUBLIC}/nonce/1`, ath, ...(nonce ? { nonce } : {}) }) },
      });
    const first = await call(instances[0]!);
    expect(first.status).toBe(401);
    expect(first.headers.get("www-authenticate")).toMatch(/error="use_dpop_nonce"/);
    expect((await call(instances[1]!, first.headers.get("dpop-nonce")!)).status).toBe(200);
  });
});
