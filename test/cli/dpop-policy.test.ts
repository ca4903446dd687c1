// The dpop gateway policy through the front ends that derive from its schema: `gatehouse policy attach`
// (options made from the schema), the declarative file (`policies: dpop:` of an API and a route) and a bad
// value refused naming the field. Its effect at the gateway: test/gateway/e2e/dpop.test.ts.
import fs from "node:fs";
import path from "node:path";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";

describe("gatehouse policy dpop (sqlite)", () => {
  const t = freshGatehouse("sqlite");

  test("attach with the schema's options and defaults, show, detach", async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders");
    const show = await t.gatehouse("policy", "show", "dpop");
    expect(show.stdout).toContain("dpop — DPoP");
    expect(show.stdout).toMatch(/required/);
    expect(await t.gatehouse.json("policy", "attach", "dpop", "--api", API)).toEqual({ required: true, require_nonce: false });
    const attached = await t.gatehouse.json("policy", "attach", "dpop", "--api", API, "--max-age-seconds", "30", "--require-nonce");
    expect(attached).toEqual({ required: true, max_age_seconds: 30, require_nonce: true });
    expect((await t.gatehouse.json("api", "show", API)).policies).toEqual({ dpop: attached });
    expectCleanFailure(await t.gatehouse("policy", "attach", "dpop", "--api", API, "--max-age-seconds", "0"), /max_age_seconds/);
    expect(await t.gatehouse.json("policy", "detach", "dpop", "--api", API)).toEqual({ detached: "dpop", api: API });
  });

  test("the declarative file attaches it to an API and a route", async () => {
    const file = path.join(t.db.dataDir, "dpop.yaml");
    fs.writeFileSync(
      file,
      `apis:
  - identifier: https://strict.example
    name: Strict
    scopes: [strict:read]
    policies:
      dpop: { required: true }
    routes:
      - path_prefix: /strict
        upstream: http://127.0.0.1:4000
        policies:
          dpop: { required: false, max_age_seconds: 120 }
scopes:
  - name: strict:read
`,
    );
    const applied = await t.gatehouse("apply", file, "--json");
    expect(applied.code).toBe(0);
    const api = await t.gatehouse.json("api", "show", "https://strict.example");
    expect(api.policies).toEqual({ dpop: { required: true, require_nonce: false } });
    const routes = await t.gatehouse.json("route", "list", "--api", "https://strict.example");
    expect(routes[0].policies).toEqual({ dpop: { required: false, max_age_seconds: 120, require_nonce: false } });
  });
});
