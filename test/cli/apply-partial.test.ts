import fs from "node:fs";
import path from "node:path";
import { CLI_BACKENDS } from "../helpers/databases.ts";
import { freshGatehouse } from "./gatehouse.ts";

// Apply never deletes: an entry for an existing API or route sets the fields it gives and the policies it
// names; what it leaves out (scopes, other policies, a route's settings) keeps its stored value.
const API = "https://orders.example";

const PARTIAL = `
apis:
  - identifier: ${API}
    name: Orders renamed
    policies:
      rate_limit:
        limits:
          - { by: client, requests: 100, per: minute }
    routes:
      - path_prefix: /orders
        upstream: http://127.0.0.1:9001
        policies:
          rate_limit:
            limits:
              - { by: address, requests: 5, per: second }
`;

describe.each(CLI_BACKENDS)("gatehouse apply with a partial entry (%s)", (backend) => {
  const t = freshGatehouse(backend);

  test("an existing API and route keep the fields and policies the entry leaves out", async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders", "--scope", "x:read", "--claim-header", "email=X-Email");
    await t.gatehouse.json("policy", "attach", "cors", "--api", API, "--origins", "https://app.example");
    const route = await t.gatehouse.json("route", "add", "--api", API, "--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--method", "GET", "--timeout", "5000");
    await t.gatehouse.json("policy", "attach", "cors", "--route", route.id, "--origins", "https://route.example");
    const before = await t.gatehouse.json("api", "show", API);

    const file = path.join(t.db.dataDir, "partial.yaml");
    fs.writeFileSync(file, PARTIAL);
    const applied = await t.gatehouse("apply", file, "--json");
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ apis: { updated: 1 }, routes: { updated: 1, created: 0 } });

    const api = await t.gatehouse.json("api", "show", API);
    expect(api).toEqual({
      ...before,
      name: "Orders renamed",
      policies: { ...before.policies, rate_limit: { limits: [{ by: "client", requests: 100, per: "minute" }] } },
    });
    expect(api.scopes).toEqual(["x:read"]);
    expect(Object.keys(api.policies).sort()).toEqual(["claim_headers", "cors", "rate_limit"]);

    const after = (await t.gatehouse.json("route", "list", "--api", API)).find((r: { id: string }) => r.id === route.id);
    expect(after).toEqual({
      ...route,
      upstream: "http://127.0.0.1:9001",
      policies: { cors: expect.objectContaining({ origins: ["https://route.example"] }), rate_limit: { limits: [{ by: "address", requests: 5, per: "second" }] } },
    });

    // Applying it again changes nothing; a policy named again is set to exactly what the file says.
    const again = await t.gatehouse("apply", file, "--json");
    expect(JSON.parse(again.stdout)).toMatchObject({ changes: 0 });
  });
});
