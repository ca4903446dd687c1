// The gateway_policies data migration on both databases: a database as the previous release left it,
// with APIs using claim headers, token forwarding and outbound OAuth (and one using none), and routes,
// is migrated; each setting becomes the policy of the same name, the sealed outbound secret still opens,
// nothing else changes, routes survive the Api table's rebuild, and the gateway applies the policies.
import crypto from "node:crypto";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse } from "../helpers/gatehouse.ts";
import { startUpstream } from "../helpers/upstream.ts";
import { databaseKind, openDatabase } from "../../src/storage/database.ts";
import { migrate } from "../../src/storage/migrate.ts";
import { openStorage } from "../../src/storage/index.ts";
import { createServices } from "../../src/services/index.ts";
import { seal, unseal } from "../../src/services/sealing.ts";

const ORDERS = "https://orders.example.com";
const BILLING = "https://billing.example.com";
const PLAIN = "https://plain.example.com";

describe.each(BACKENDS)("the gateway_policies migration on %s", (backend) => {
  let db: FreshDatabase;

  beforeAll(async () => {
    db = await freshDatabase(backend);
  });

  afterAll(async () => {
    await db?.drop();
  });

  test("claim headers, token forwarding and outbound OAuth become policies; routes and everything else stay", async () => {
    const kind = databaseKind(db.url);
    const raw = await openDatabase(db.url);
    const sealed = seal("${BILLING_SECRET}", db.env.KEY_ENCRYPTION_SECRET!, "outbound-client-secret");
    try {
      const applied = await migrate(raw, kind, { before: "gateway_policies" });
      expect(applied.at(-1)).not.toMatch(/gateway_polic/);
      const json = kind === "postgresql" ? "::jsonb" : "";
      const now = kind === "postgresql" ? "now()" : "CURRENT_TIMESTAMP";
      const insertApi = `INSERT INTO "Api" ("identifier", "name", "scopes", "claimHeaders", "forwardToken", "outboundOAuth", "introspectionClients", "updatedAt")
        VALUES ($1, $2, $3${json}, $4${json}, $5, $6${json}, $7${json}, ${now})`;
      await raw.$executeRawUnsafe(insertApi, ORDERS, "Orders", '["orders:read"]', '{"email":"X-User-Email","client_id":"X-Client"}', "signed", null, '["orders-backend"]');
      const outbound = {
        tokenUrl: "https://login.example.com/${TENANT}/token",
        clientId: "gatehouse-billing",
        clientSecretSealed: sealed,
        authMethod: "body",
        scope: "billing/.default",
        resource: null,
        header: "X-Billing-Token",
        removeHeaders: ["Ocp-Apim-Subscription-Key"],
      };
      await raw.$executeRawUnsafe(insertApi, BILLING, "Billing", '["billing:read"]', "{}", "original", JSON.stringify(outbound), "[]");
      await raw.$executeRawUnsafe(insertApi, PLAIN, "Plain", "[]", null, "none", null, null);
      const insertRoute = `INSERT INTO "ApiRoute" ("id", "apiIdentifier", "pathPrefix", "methods", "upstream", "scopes", "updatedAt") VALUES ($1, $2, $3, '[]'${json}, $4, '{}'${json}, ${now})`;
      await raw.$executeRawUnsafe(insertRoute, crypto.randomUUID(), ORDERS, "/orders", "http://127.0.0.1:9/v1");
      await raw.$executeRawUnsafe(insertRoute, crypto.randomUUID(), BILLING, "/billing", "http://127.0.0.1:9");
      await raw.$executeRawUnsafe(insertRoute, crypto.randomUUID(), PLAIN, "/plain", "http://127.0.0.1:9");

      // The two migrations, first of whatever later ones there are.
      expect((await migrate(raw, kind)).slice(0, 2)).toEqual([expect.stringMatching(/_gateway_policies$/), expect.stringMatching(/_gateway_policy_columns$/)]);
      const columns = await raw.$queryRawUnsafe<Array<Record<string, unknown>>>(`SELECT * FROM "Api" WHERE "identifier" = $1`, ORDERS);
      expect(Object.keys(columns[0]!)).not.toEqual(expect.arrayContaining(["claimHeaders"]));
      expect(Object.keys(columns[0]!).filter((c) => /claimHeaders|forwardToken|outboundOAuth/.test(c))).toEqual([]);
    } finally {
      await raw.$disconnect();
    }

    const storage = await openStorage(db.url);
    try {
      const services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
      expect(await services.apis.get(ORDERS)).toEqual({
        identifier: ORDERS,
        name: "Orders",
        token_format: "jwt",
        access_token_ttl: 3600,
        scopes: ["orders:read"],
        token_check: "jwt",
        trusted_issuers: [],
        allow_query_token: false,
        introspection_clients: ["orders-backend"],
        policies: { claim_headers: { claims: { email: "X-User-Email", client_id: "X-Client" } }, forward_token: { mode: "signed" } },
      });
      expect((await services.apis.get(BILLING)).policies).toEqual({
        forward_token: { mode: "original" },
        outbound_oauth: {
          token_url: "https://login.example.com/${TENANT}/token",
          client_id: "gatehouse-billing",
          auth_method: "body",
          scope: "billing/.default",
          resource: null,
          header: "X-Billing-Token",
          remove_headers: ["Ocp-Apim-Subscription-Key"],
          has_client_secret: true,
        },
      });
      expect((await services.apis.get(PLAIN)).policies).toEqual({});
      const stored = (await storage.apis.find(BILLING))!.policies.outbound_oauth!;
      expect(stored.client_secret_sealed).toBe(sealed);
      expect(unseal(stored.client_secret_sealed as string, db.env.KEY_ENCRYPTION_SECRET!, "outbound-client-secret")).toBe("${BILLING_SECRET}");
      // The Api table was rebuilt: its routes are still there.
      expect((await services.routes.list()).map((r) => r.path_prefix).sort()).toEqual(["/billing", "/orders", "/plain"]);
      // Applying the export changes nothing: the migrated policies are what the services would store.
      const report = await services.declarative.apply(services.declarative.parse(await services.declarative.export(), {}));
      expect(report.changes).toBe(0);
    } finally {
      await storage.close();
    }
  });

  test("the gateway applies the migrated policies", async () => {
    const upstream = await startUpstream();
    const storage = await openStorage(db.url);
    let secret: string;
    try {
      const services = createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! });
      const route = (await services.routes.list(ORDERS))[0]!;
      await services.routes.update(route.id, { upstream: `${upstream.url}/v1` });
      const created = await services.clients.create({ client_name: "svc", grant_types: ["client_credentials"], scopes: ["orders:read"] });
      secret = `${created.client.client_id}:${created.client_secret}`;
    } finally {
      await storage.close();
    }
    const gatehouse = await startGatehouse(db);
    try {
      const tokenResponse = await fetch(`${gatehouse.issuer}/token`, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from(secret).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", scope: "orders:read", resource: ORDERS }),
      });
      const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
      const response = await fetch(`http://127.0.0.1:${gatehouse.env.GATEWAY_PORT}/orders/1`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      const seen = upstream.received.find((r) => r.url === "/v1/1")!;
      expect(seen.headers["x-client"]).toBe(secret.split(":")[0]);
      expect(seen.headers["x-gatehouse-token"]).toMatch(/^eyJ/);
      expect(seen.headers.authorization).toBeUndefined();
    } finally {
      await gatehouse.stop();
      await upstream.close();
    }
  });
});
