import fs from "node:fs";
import path from "node:path";
import { BACKENDS, CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse, storedOutboundSecret } from "./gatehouse.ts";

const WORKER_SECRET = "worker-secret-0123456789-abcdefghijklmnop";
const ADMIN_PW = "admin passphrase, long enough";

// jwks and claims keys are deliberately not in PostgreSQL jsonb's own order, which it stores them in.
const FILE = `
scopes:
  - name: orders:read
    description: Read orders
apis:
  - identifier: https://orders.example
    name: Orders
    access_token_ttl: 900
    scopes: [orders:read]
clients:
  - client_id: orders-worker
    client_name: Orders worker
    client_secret: \${WORKER_SECRET}
    grant_types: [client_credentials]
    scopes: [orders:read]
  - client_id: web-app
    client_name: Web app
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://web.example/callback]
  - client_id: signed-jwt
    client_name: Signs its own assertions
    grant_types: [client_credentials]
    token_endpoint_auth_method: private_key_jwt
    jwks:
      keys:
        - kty: EC
          crv: P-256
          x: f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU
          y: x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0
users:
  - username: admin
    email: admin@example.com
    password: \${ADMIN_PW}
    roles: [admin]
    claims: { name: Administrator, email_verified: true }
  - username: bob
`;

const zero = { created: 0, updated: 0 };

describe.each(BACKENDS)("gatehouse apply and export (%s)", (backend) => {
  const t = freshGatehouse(backend);
  const env = { WORKER_SECRET, ADMIN_PW };
  let file: string;

  beforeAll(() => {
    file = path.join(t.db.dataDir, "gatehouse.yaml");
    fs.writeFileSync(file, FILE);
  });

  test("the first apply creates everything; the second changes nothing", async () => {
    const first = await t.gatehouse.with({ env }, "apply", file, "--json");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report).toMatchObject({
      scopes: { created: 1 },
      apis: { created: 1 },
      clients: { created: 3, updated: 0 },
      users: { created: 2 },
      changes: 7,
      generated_passwords: [{ username: "bob", password: expect.any(String) }],
    });
    // web-app needs a secret the file does not give: generated and reported once; orders-worker's came from the environment.
    expect(report.generated_client_secrets).toEqual([{ client_id: "web-app", client_secret: expect.any(String) }]);
    expect(first.stdout).not.toContain(WORKER_SECRET);

    const second = await t.gatehouse.with({ env }, "apply", file, "--json");
    expect(JSON.parse(second.stdout)).toMatchObject({
      scopes: { ...zero, unchanged: 1 },
      apis: { ...zero, unchanged: 1 },
      clients: { ...zero, unchanged: 3 },
      users: { ...zero, unchanged: 2 },
      changes: 0,
      generated_client_secrets: [],
      generated_passwords: [],
    });
    const text = await t.gatehouse.with({ env }, "apply", file);
    expect(text.stdout).toMatch(/^clients: 0 created, 0 updated, 3 unchanged$/m);
    expect(text.stdout).toMatch(/^0 changes$/m);
  });

  test("a changed secret in the environment updates only that client", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const rotated = await t.gatehouse.with({ env: { ...env, WORKER_SECRET: WORKER_SECRET + "-v2" } }, "apply", file, "--json");
    expect(JSON.parse(rotated.stdout)).toMatchObject({ clients: { updated: 1, unchanged: 2 }, changes: 1 });
  });

  test("export never includes secrets or hashes, and applying it changes nothing", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const exported = await t.gatehouse("export");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain("client_id: orders-worker");
    expect(exported.stdout).not.toMatch(/secret:|password:|argon2/);
    // bob's password was generated: it must still be changed, and the export says so (never the password).
    expect(exported.stdout).toContain("password_change_required: true");
    const exportedFile = path.join(t.db.dataDir, "exported.yaml");
    fs.writeFileSync(exportedFile, exported.stdout);
    expect(await t.gatehouse.json("apply", exportedFile)).toMatchObject({ changes: 0, generated_client_secrets: [], generated_passwords: [] });

    const asJson = await t.gatehouse("export", "--format", "json");
    expect(JSON.parse(asJson.stdout).clients).toHaveLength(3);
    const fromStdin = await t.gatehouse.with({ stdin: asJson.stdout }, "apply", "-", "--json");
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ changes: 0 });
  });
});

// An API with its gateway settings, policies and routes. Inside an outbound_oauth policy, ${...} stays a
// reference for the gateway to resolve at request time; everywhere else (the routes' upstream here)
// apply resolves it.
const GATEWAY_FILE = `
scopes:
  - name: orders:read
  - name: orders:write
apis:
  - identifier: https://orders.example
    name: Orders
    scopes: [orders:read, orders:write, orders:admin, orders:clerk]
    trusted_issuers:
      - issuer: https://login.partner.example
        jwks_uri: https://login.partner.example/jwks
        algorithms: [ES256]
        token_types: [at+jwt, jwt]
    policies:
      claim_headers:
        claims: { sub: X-User-Id, email: X-User-Email }
      forward_token: { mode: signed }
      outbound_oauth:
        token_url: \${PARTNER_IDP}/oauth2/token
        client_id: gatehouse-orders
        client_secret: \${PARTNER_CLIENT_SECRET}
        auth_method: body
        scope: inventory.read
        remove_headers: [Cookie]
      rate_limit:
        limits:
          - { by: client, requests: 100, per: minute }
      cors:
        origins: [https://app.example]
        credentials: true
    routes:
      - path_prefix: /orders
        upstream: \${ORDERS_UPSTREAM}
        methods: [GET, POST]
        scopes:
          "*": { all_of: [orders:read] }
          POST: { all_of: [orders:write], any_of: [orders:admin, orders:clerk] }
        policies:
          rate_limit:
            limits:
              - { name: orders-burst, by: subject, requests: 5, per: second, burst: 10 }
      - path_prefix: /health
        host: api.example
        upstream: \${ORDERS_UPSTREAM}
        rewrite: /status
        public: true
`;

// The same API as a file written for the release before policies: claim_headers, forward_token and
// outbound_oauth as fields of the API. They are still read, as the policies they now are.
const FLAT_FILE = `
apis:
  - identifier: https://orders.example
    name: Orders
    scopes: [orders:read, orders:write, orders:admin, orders:clerk]
    trusted_issuers:
      - issuer: https://login.partner.example
        jwks_uri: https://login.partner.example/jwks
        algorithms: [ES256]
        token_types: [at+jwt, jwt]
    claim_headers: { sub: X-User-Id, email: X-User-Email }
    forward_token: signed
    outbound_oauth:
      token_url: \${PARTNER_IDP}/oauth2/token
      client_id: gatehouse-orders
      auth_method: body
      scope: inventory.read
      remove_headers: [Cookie]
    policies:
      rate_limit:
        limits:
          - { by: client, requests: 100, per: minute }
      cors:
        origins: [https://app.example]
        credentials: true
`;

describe.each(CLI_BACKENDS)("gatehouse apply and export of gateway settings and routes (%s)", (backend) => {
  const t = freshGatehouse(backend);
  // PARTNER_CLIENT_SECRET is set here too, to show apply does not use it: the gateway will.
  const env = { ORDERS_UPSTREAM: "http://127.0.0.1:9000", PARTNER_CLIENT_SECRET: "resolved-too-early-0123456789" };
  let file: string;

  beforeAll(() => {
    file = path.join(t.db.dataDir, "gateway.yaml");
    fs.writeFileSync(file, GATEWAY_FILE);
  });

  test("the first apply creates the API and its routes; the second changes nothing", async () => {
    const first = await t.gatehouse.with({ env }, "apply", file, "--json");
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ scopes: { created: 2 }, apis: { created: 1 }, routes: { created: 2 }, changes: 5 });

    const second = await t.gatehouse.with({ env }, "apply", file, "--json");
    expect(JSON.parse(second.stdout)).toMatchObject({
      scopes: { ...zero, unchanged: 2 },
      apis: { ...zero, unchanged: 1 },
      routes: { ...zero, unchanged: 2 },
      changes: 0,
    });
    const text = await t.gatehouse.with({ env }, "apply", file);
    expect(text.stdout).toMatch(/^routes: {2}0 created, 0 updated, 2 unchanged$/m);

    const api = await t.gatehouse.json("api", "show", "https://orders.example");
    expect(api).toMatchObject({
      trusted_issuers: [{ issuer: "https://login.partner.example", algorithms: ["ES256"], token_types: ["at+jwt", "jwt"] }],
      policies: {
        claim_headers: { claims: { sub: "X-User-Id", email: "X-User-Email" } },
        forward_token: { mode: "signed" },
        outbound_oauth: { token_url: "${PARTNER_IDP}/oauth2/token", client_id: "gatehouse-orders", auth_method: "body", scope: "inventory.read", has_client_secret: true },
        rate_limit: { limits: [{ by: "client", requests: 100, per: "minute" }] },
        // Defaults filled in.
        cors: { origins: ["https://app.example"], credentials: true, methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], headers: ["Authorization", "Content-Type"], max_age: 600 },
      },
    });
    expect((await storedOutboundSecret(t.db, "https://orders.example")).plaintext).toBe("${PARTNER_CLIENT_SECRET}");
    const routes = await t.gatehouse.json("route", "list", "--api", "https://orders.example");
    expect(routes).toEqual([
      expect.objectContaining({ path_prefix: "/health", host: "api.example", upstream: "http://127.0.0.1:9000", rewrite: "/status", public: true }),
      expect.objectContaining({
        path_prefix: "/orders",
        upstream: "http://127.0.0.1:9000",
        policies: { rate_limit: { limits: [{ name: "orders-burst", by: "subject", requests: 5, per: "second", burst: 10 }] } },
        scopes: { "*": { all_of: ["orders:read"], any_of: [] }, POST: { all_of: ["orders:write"], any_of: ["orders:admin", "orders:clerk"] } },
      }),
    ]);
  });

  test("a changed upstream in the environment updates the routes and nothing else", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const moved = await t.gatehouse.with({ env: { ...env, ORDERS_UPSTREAM: "http://127.0.0.1:9100" } }, "apply", file, "--json");
    expect(JSON.parse(moved.stdout)).toMatchObject({ apis: { ...zero, unchanged: 1 }, routes: { ...zero, updated: 2 }, changes: 2 });
    await t.gatehouse.with({ env }, "apply", file);
  });

  test("export writes the gateway settings and routes, never the outbound secret, and applying it changes nothing", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const { sealed } = await storedOutboundSecret(t.db, "https://orders.example");
    const exported = await t.gatehouse("export");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain("token_url: ${PARTNER_IDP}/oauth2/token");
    expect(exported.stdout).toMatch(/^ {4}routes:\n {6}- path_prefix: \/health\n {8}host: api.example$/m);
    expect(exported.stdout).not.toMatch(/secret|PARTNER_CLIENT_SECRET/);
    expect(exported.stdout).not.toContain(sealed);
    const exportedFile = path.join(t.db.dataDir, "gateway-exported.yaml");
    fs.writeFileSync(exportedFile, exported.stdout);
    // No environment at all: nothing in the export needs it.
    expect(await t.gatehouse.json("apply", exportedFile)).toMatchObject({ apis: { ...zero, unchanged: 1 }, routes: { ...zero, unchanged: 2 }, changes: 0 });
    // An omitted client_secret keeps the stored one, seal and all.
    expect((await storedOutboundSecret(t.db, "https://orders.example")).sealed).toBe(sealed);

    // Only policies are written (their unset fields left out), never the flat fields of earlier releases.
    expect(exported.stdout).toMatch(/^ {4}policies:\n {6}cors:\n/m);
    expect(exported.stdout).not.toMatch(/^ {4}(claim_headers|forward_token|outbound_oauth):/m);

    const asJson = await t.gatehouse("export", "--format", "json");
    expect(JSON.parse(asJson.stdout).apis[0].routes).toHaveLength(2);
    const fromStdin = await t.gatehouse.with({ stdin: asJson.stdout }, "apply", "-", "--json");
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ changes: 0 });
  });
  test("a file with the flat fields of earlier releases applies as the same policies: nothing changes", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const flat = path.join(t.db.dataDir, "flat.yaml");
    fs.writeFileSync(flat, FLAT_FILE);
    expect(await t.gatehouse.json("apply", flat)).toMatchObject({ apis: { ...zero, unchanged: 1 }, changes: 0 });
  });

  test("apply refuses a malformed policy, naming where it is, and changes nothing", async () => {
    await t.gatehouse.with({ env }, "apply", file);
    const before = await t.gatehouse.json("api", "show", "https://orders.example");
    const bad = (name: string, policies: string) => {
      const badFile = path.join(t.db.dataDir, `bad-${name}.yaml`);
      fs.writeFileSync(badFile, `apis:\n  - identifier: https://orders.example\n    name: Orders\n    policies:\n${policies}`);
      return t.gatehouse("apply", badFile);
    };
    // One process each, side by side: nothing they do depends on another.
    const results = await Promise.all([
      bad("wildcard", "      cors: { origins: ['*'], credentials: true }\n"),
      bad("origin", "      cors: { origins: [https://app.example/path] }\n"),
      bad("requests", "      rate_limit: { limits: [{ by: client, requests: 0, per: minute }] }\n"),
      bad("by", "      rate_limit: { limits: [{ by: tenant, requests: 5, per: fortnight }] }\n"),
      bad("unknown", "      throttle: { limits: [] }\n"),
    ]);
    const expected: Array<string | RegExp> = [
      "apis[0].policies.cors.origins[0]: credentials need the origins listed: * cannot be used with credentials",
      /apis\[0\]\.policies\.cors\.origins\[0\]: an origin exactly as browsers send it/,
      /apis\[0\]\.policies\.rate_limit\.limits\[0\]\.requests: Too small/,
      /apis\[0\]\.policies\.rate_limit\.limits\[0\]\.by: /,
      /apis\[0\]\.policies: Unrecognized key: "throttle"/,
    ];
    results.forEach((result, i) => expectCleanFailure(result, expected[i]!));
    expect(await t.gatehouse.json("api", "show", "https://orders.example")).toEqual(before);
  });
});
