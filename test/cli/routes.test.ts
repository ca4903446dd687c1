import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

const API = "https://orders.example";

describe.each(CLI_BACKENDS)("gatehouse route (%s)", (backend) => {
  const t = freshGatehouse(backend);

  beforeAll(async () => {
    await t.gatehouse.json("api", "create", "--identifier", API, "--name", "Orders", "--scope", "orders:read orders:write orders:admin orders:clerk");
  });

  test("add prints the route as the file writes it, plus its id and API; list finds it and delete removes it", async () => {
    const orders = await t.gatehouse.json(
      "route", "add", "--api", API, "--path", "/orders", "--upstream", "http://127.0.0.1:9000/v1",
      "--method", "GET", "--method", "POST", "--scope", "orders:read", "--scope", "POST=orders:write",
      "--any-scope", "POST=orders:admin orders:clerk", "--timeout", "5000", "--max-body", "0",
    );
    expect(orders).toEqual({
      id: expect.any(String),
      api: API,
      path_prefix: "/orders",
      host: null,
      methods: ["GET", "POST"],
      upstream: "http://127.0.0.1:9000/v1",
      rewrite: "strip",
      scopes: {
        "*": { all_of: ["orders:read"], any_of: [] },
        POST: { all_of: ["orders:write"], any_of: ["orders:admin", "orders:clerk"] },
      },
      public: false,
      timeout_ms: 5000,
      max_body_bytes: 0,
      policies: {},
    });
    const health = await t.gatehouse.json(
      "route", "add", "--api", API, "--path", "/health", "--host", "api.example", "--upstream", "https://backend.example", "--rewrite", "/status", "--public",
    );
    expect(health).toMatchObject({ host: "api.example", rewrite: "/status", public: true, scopes: {}, methods: [], timeout_ms: 30000, max_body_bytes: 1048576 });

    // Listed by API, then path prefix.
    expect(await t.gatehouse.json("route", "list")).toEqual([health, orders]);
    expect(await t.gatehouse.json("route", "list", "--api", API)).toEqual([health, orders]);
    const table = await t.gatehouse("route", "list");
    expect(table.stdout).toMatch(/^ID\s+API\s+HOST\s+PATH_PREFIX\s+METHODS\s+UPSTREAM\s+PUBLIC\s+POLICIES$/m);
    expect(table.stdout).toContain(orders.id);

    expect(await t.gatehouse.json("route", "delete", health.id)).toEqual({ deleted: health.id });
    expect(await t.gatehouse.json("route", "list")).toEqual([orders]);
    expectCleanFailure(await t.gatehouse("route", "delete", health.id), `route ${health.id} not found`);
    await t.gatehouse.json("route", "delete", orders.id);
  });

  test("add refuses a second route for the same path and host; another host is another route", async () => {
    const first = await t.gatehouse.json("route", "add", "--api", API, "--path", "/items", "--upstream", "http://127.0.0.1:9001");
    expectCleanFailure(
      await t.gatehouse("route", "add", "--api", API, "--path", "/items", "--upstream", "http://127.0.0.1:9002"),
      `a route for /items of api ${API} already exists (${first.id})`,
    );
    const other = await t.gatehouse.json("route", "add", "--api", API, "--path", "/items", "--host", "b.example", "--upstream", "http://127.0.0.1:9002");
    expect(other.id).not.toBe(first.id);
    // Only this test's path: a route another test left behind (when it failed half-way) is none of its business.
    const items = ((await t.gatehouse.json("route", "list", "--api", API)) as { path_prefix: string; host: string | null; upstream: string }[])
      .filter((r) => r.path_prefix === "/items")
      .map((r) => [r.host, r.upstream]);
    expect(items).toHaveLength(2);
    expect(items).toEqual(expect.arrayContaining([[null, "http://127.0.0.1:9001"], ["b.example", "http://127.0.0.1:9002"]]));
    for (const { id } of [first, other]) await t.gatehouse.json("route", "delete", id);
  });

  test("bad input exits 1 naming the field, and adds nothing", async () => {
    const before = await t.gatehouse.json("route", "list");
    const add = (...args: string[]) => t.gatehouse("route", "add", "--api", API, ...args);
    expectCleanFailure(await add("--path", "/orders/../admin", "--upstream", "http://127.0.0.1:9000"), "path_prefix: must not contain . or .. segments");
    expectCleanFailure(await add("--path", "/orders/", "--upstream", "http://127.0.0.1:9000"), /^error: path_prefix: must be an absolute path/);
    expectCleanFailure(await add("--path", "/orders", "--upstream", "file:///etc/passwd"), "upstream: Invalid URL");
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--rewrite", "drop"), /^error: rewrite: /);
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--scope", 'GET=bad"scope'), "scopes.GET.all_of[0]: invalid scope name");
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--public", "--scope", "orders:read"), "scopes: a public route requires no scopes");
    // Typos: a method that does not exist, a scope neither registered nor the API's.
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--scope", "GTE=orders:read"), /Unknown method GTE: one of GET, HEAD, POST/);
    expectCleanFailure(
      await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--scope", "GET=orders:raed"),
      /scopes\.GET\.all_of\[0\]: unknown scope "orders:raed" \(known scopes: orders:admin, orders:clerk, orders:read, orders:write\)/,
    );
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--timeout", "10"), /^error: timeout_ms: Too small/);
    expectCleanFailure(await add("--path", "/orders", "--upstream", "http://127.0.0.1:9000", "--method", "get"), /argument 'get' is invalid/);

    const unknown = await t.gatehouse("route", "add", "--api", "https://nowhere.example", "--path", "/x", "--upstream", "http://127.0.0.1:9000", "--json");
    expectCleanFailure(unknown, "api https://nowhere.example not found");
    expect(JSON.parse(unknown.stdout)).toEqual({ error: "api https://nowhere.example not found" });
    expectCleanFailure(await t.gatehouse("route", "list", "--api", "https://nowhere.example"), "api https://nowhere.example not found");

    expect(await t.gatehouse.json("route", "list")).toEqual(before);
  });

  test("deleting the API deletes its routes", async () => {
    await t.gatehouse.json("api", "create", "--identifier", "https://short-lived.example", "--name", "Short-lived");
    await t.gatehouse.json("route", "add", "--api", "https://short-lived.example", "--path", "/", "--upstream", "http://127.0.0.1:9000");
    await t.gatehouse.json("api", "delete", "https://short-lived.example");
    const left: { api: string }[] = await t.gatehouse.json("route", "list");
    expect(left.map((r) => r.api)).not.toContain("https://short-lived.example");
  });
});
