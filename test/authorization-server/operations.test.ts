// Running the server: database outage (503, nothing committed is lost), signing key rotation without
// restart, and graceful shutdown.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { configPropagation, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";

const API = "https://orders.example.com";

async function seedClient(db: FreshDatabase) {
  return withServices(db, async (services) => {
    await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read"] });
    const { client, client_secret: clientSecret } = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
    return { id: client.client_id, secret: clientSecret! };
  });
}

async function token(gatehouse: RunningGatehouse, client: { id: string; secret: string }, extra: Record<string, string> = {}) {
  const response = await fetch(`${gatehouse.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`,
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: API, ...extra }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

describe("PostgreSQL outage", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;

  beforeAll(async () => {
    db = await freshDatabase("postgresql");
    proxy = await tcpProxy(5432);
    const url = new URL(db.url);
    url.port = String(proxy.port);
    gatehouse = await startGatehouse(db, { DATABASE_URL: url.href });
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await proxy?.close();
    await db?.drop();
  });

  test("answers 503 temporarily_unavailable while the database is down and recovers with nothing lost", async () => {
    const client = await seedClient(db);
    await configPropagation();
    const opaque = { resource: "" };
    expect((await token(gatehouse, client)).status).toBe(200);
    // An opaque token is a committed row; it must survive the outage.
    await withServices(db, (services) => services.apis.apply({ identifier: "https://opaque.example.com", name: "Opaque", token_format: "opaque", scopes: ["orders:read"] }));
    await configPropagation();
    const issued = await token(gatehouse, client, { ...opaque, resource: "https://opaque.example.com" });
    expect(issued.status).toBe(200);

    proxy.cut();
    const introspect = await fetch(`${gatehouse.issuer}/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
      body: new URLSearchParams({ token: issued.body.access_token! }),
    });
    expect(introspect.status).toBe(503);
    expect(introspect.headers.get("retry-after")).toBe("5");
    expect(await introspect.json()).toMatchObject({ error: "temporarily_unavailable" });

    proxy.restore();
    let after: Response | undefined;
    for (let i = 0; i < 50; i++) {
      after = await fetch(`${gatehouse.issuer}/introspect`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}` },
        body: new URLSearchParams({ token: issued.body.access_token! }),
      });
      if (after.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(after!.status).toBe(200);
    expect(await after!.json()).toMatchObject({ active: true, client_id: client.id });
    expect(gatehouse.output()).not.toMatch(/\n\s+at .*\.(js|ts):\d+/);
  });
});

describe.each(BACKENDS)("operations on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase(backend);
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("key rotation: the next key is published before it signs, the old one stays until its tokens expire", async () => {
    const client = await seedClient(db);
    await configPropagation();
    const jwksBefore = (await (await fetch(`${gatehouse.issuer}/jwks`)).json()) as { keys: Array<{ kid: string; key_ops?: string[] }> };
    expect(jwksBefore.keys).toHaveLength(2);
    const [active, next] = jwksBefore.keys;
    expect(next!.key_ops).toEqual(["verify"]);
    const old = await token(gatehouse, client);
    expect(decodeProtectedHeader(old.body.access_token!).kid).toBe(active!.kid);

    await withServices(db, (services) => services.keys.rotate());
    await configPropagation();

    const fresh = await token(gatehouse, client);
    expect(decodeProtectedHeader(fresh.body.access_token!).kid).toBe(next!.kid);
    const jwksAfter = (await (await fetch(`${gatehouse.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwksAfter.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([active!.kid, next!.kid]));
    expect(jwksAfter.keys).toHaveLength(3);
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.issuer}/jwks`));
    await expect(jwtVerify(old.body.access_token!, jwks, { issuer: gatehouse.issuer })).resolves.toBeTruthy();
    await expect(jwtVerify(fresh.body.access_token!, jwks, { issuer: gatehouse.issuer })).resolves.toBeTruthy();
  });

  test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    const client = await seedClient(db);
    await configPropagation();
    const inFlight = token(gatehouse, client);
    await new Promise((r) => setTimeout(r, 5));
    const exit = gatehouse.stop("SIGTERM");
    expect((await inFlight).status).toBe(200);
    expect(await exit).toBe(0);
  });
});

describe("several server processes (WORKERS=2)", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    gatehouse = await startGatehouse(db, { WORKERS: "2", LOG_LEVEL: "info" });
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  test("every worker serves tokens, and SIGTERM stops them all with exit code 0", async () => {
    const client = await seedClient(db);
    await configPropagation();
    const results = await Promise.all(Array.from({ length: 20 }, () => token(gatehouse, client)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const gateway = await fetch(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/none`);
    expect(gateway.status).toBe(404);
    expect(await gatehouse.stop("SIGTERM")).toBe(0);
    expect(gatehouse.output().match(/"started workers","workers":2/)).not.toBeNull();
  });
});
