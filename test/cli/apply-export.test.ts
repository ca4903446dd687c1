import fs from "node:fs";
import path from "node:path";
import { BACKENDS } from "../helpers/databases.ts";
import { freshGatehouse } from "./gatehouse.ts";

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
    expect(exported.stdout).not.toMatch(/secret:|password|argon2/);
    const exportedFile = path.join(t.db.dataDir, "exported.yaml");
    fs.writeFileSync(exportedFile, exported.stdout);
    expect(await t.gatehouse.json("apply", exportedFile)).toMatchObject({ changes: 0, generated_client_secrets: [], generated_passwords: [] });

    const asJson = await t.gatehouse("export", "--format", "json");
    expect(JSON.parse(asJson.stdout).clients).toHaveLength(3);
    const fromStdin = await t.gatehouse.with({ stdin: asJson.stdout }, "apply", "-", "--json");
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ changes: 0 });
  });
});
