// The route table built from a real database, written through the same services the admin uses.
import { freshDatabase, type FreshDatabase } from "../../helpers/databases.ts";
import { withServices } from "../../helpers/seed.ts";
import { applyRouteChanges, loadRouteTable } from "../../../src/gateway/rules/load-route-table.ts";
import type { RouteTable } from "../../../src/gateway/rules/route-table.ts";
import { testContext } from "../policies/compile.ts";

describe("loadRouteTable on sqlite", () => {
  let db: FreshDatabase;

  beforeEach(async () => {
    db = await freshDatabase("sqlite");
  });

  afterEach(async () => {
    await db?.drop();
  });

  test("an empty database gives an empty table", async () => {
    const table = await withServices(db, (_services, storage) => loadRouteTable(storage, testContext()));
    expect(table.size).toBe(0);
    expect(table.match("h", "GET", "/")).toBeUndefined();
  });

  test("every route is loaded with its API and matched without the database", async () => {
    const table = await withServices(db, async (services, storage) => {
      await services.apis.apply({ identifier: "https://api.example.com/orders", name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: "urn:gatehouse:users", name: "Users" });
      await services.routes.apply("https://api.example.com/orders", {
        path_prefix: "/orders",
        methods: ["GET"],
        upstream: "http://orders:8080/base",
        scopes: { GET: { all_of: ["orders:read"] } },
      });
      await services.routes.apply("urn:gatehouse:users", { path_prefix: "/users", host: "admin.example.com", upstream: "http://users:8080", rewrite: "keep" });
      await services.routes.apply("urn:gatehouse:users", { path_prefix: "/", upstream: "http://users:8080", public: true });
      return loadRouteTable(storage, testContext());
    });
    // The storage is closed: whatever follows is answered from memory.
    expect(table.size).toBe(3);

    const orders = table.match("gateway.example.com", "GET", "/orders/1")!;
    expect(orders.api).toMatchObject({ identifier: "https://api.example.com/orders", scopes: ["orders:read"] });
    expect(orders.route).toMatchObject({ pathPrefix: "/orders", upstream: "http://orders:8080/base", scopes: { GET: { allOf: ["orders:read"], anyOf: [] } } });

    expect(table.match("Admin.Example.com:443", "DELETE", "/users/1")!.route).toMatchObject({ pathPrefix: "/users", rewrite: "keep" });
    expect(table.match("gateway.example.com", "GET", "/users/1")!.route).toMatchObject({ pathPrefix: "/", public: true });
    expect(table.match("gateway.example.com", "POST", "/orders/1")).toBeUndefined();
    expect(table.allowedMethods("gateway.example.com", "/orders/1")).toEqual(["GET", "HEAD"]);
  });

  test("a prefix stored with an encoded unreserved character matches its decoded form", async () => {
    const table = await withServices(db, async (services, storage) => {
      await services.apis.apply({ identifier: "urn:gatehouse:home", name: "Home" });
      await services.routes.apply("urn:gatehouse:home", { path_prefix: "/", upstream: "http://home:8080", public: true });
      await services.routes.apply("urn:gatehouse:home", { path_prefix: "/%7Eadmin", upstream: "http://admin:8080" });
      return loadRouteTable(storage, testContext());
    });
    expect(table.match("h", "GET", "/~admin/panel")!.route).toMatchObject({ pathPrefix: "/~admin", public: false });
  });

  test("deleting an API removes its routes from the next table", async () => {
    const table = await withServices(db, async (services, storage) => {
      await services.apis.apply({ identifier: "urn:gatehouse:gone", name: "Gone" });
      await services.routes.apply("urn:gatehouse:gone", { path_prefix: "/gone", upstream: "http://gone:8080" });
      expect((await loadRouteTable(storage, testContext())).size).toBe(1);
      await storage.apis.delete("urn:gatehouse:gone");
      return loadRouteTable(storage, testContext());
    });
    expect(table.size).toBe(0);
  });
});

describe("applyRouteChanges (a change to one route or API, in place)", () => {
  let db: FreshDatabase;

  beforeEach(async () => {
    db = await freshDatabase("sqlite");
  });
  afterEach(async () => {
    await db?.drop();
  });

  /** What a table answers for a fixed set of requests, to compare two tables. */
  const answers = (table: RouteTable) =>
    ["/orders/1", "/orders", "/users/7", "/", "/ledger/x", "/other"].flatMap((path) =>
      ["a.example", "b.example"].flatMap((host) =>
        ["GET", "POST", "DELETE"].map((method) => {
          const found = table.match(host, method, path);
          return `${host} ${method} ${path} -> ${found ? `${found.api.identifier} ${found.route.pathPrefix} ${found.route.upstream}` : `none [${table.allowedMethods(host, path).join(",")}]`}`;
        }),
      ),
    );

  test("after each change the table answers exactly as one loaded afresh, and only changed entries are read", async () => {
    await withServices(db, async (services, storage) => {
      await services.apis.apply({ identifier: "urn:orders", name: "Orders", scopes: ["orders:read"] });
      await services.apis.apply({ identifier: "urn:users", name: "Users" });
      const orders = await services.routes.create("urn:orders", { path_prefix: "/orders", methods: ["GET"], upstream: "http://orders:8080", scopes: { GET: { all_of: ["orders:read"] } } });
      await services.routes.create("urn:users", { path_prefix: "/", upstream: "http://users:8080", public: true });
      const table = await loadRouteTable(storage, testContext());
      let seq = await storage.revisions.lastConfigChange();
      let listed = 0;
      const forEach = storage.routes.forEach.bind(storage.routes);
      storage.routes.forEach = async (...args) => {
        listed++;
        return forEach(...args);
      };
      const step = async (change: () => Promise<unknown>) => {
        await change();
        const changes = await storage.revisions.configChangesSince(seq, 100);
        seq = changes.at(-1)?.seq ?? seq;
        await applyRouteChanges(table, storage, testContext(), changes);
        const fresh = await loadRouteTable(storage, testContext());
        listed--; // the fresh table's own read
        expect(answers(table)).toEqual(answers(fresh));
        expect(table.size).toBe(fresh.size);
      };
      // Two routes at one prefix: the first in storage's order (API, then id) wins for a method both accept.
      await step(() => services.routes.create("urn:users", { path_prefix: "/orders", methods: ["POST", "DELETE"], upstream: "http://users:8080/o", public: true }));
      await step(() => services.routes.update(orders.id, { upstream: "http://orders:9090", methods: ["GET", "DELETE"] } as never));
      await step(() => services.routes.create("urn:orders", { path_prefix: "/ledger", host: "b.example", upstream: "http://ledger:8080", public: true }));
      await step(() => services.apis.update("urn:orders", { name: "Orders v2" } as never));
      await step(() => services.routes.delete(orders.id));
      await step(() => services.apis.delete("urn:users"));
      expect(listed).toBe(0);
    });
  });

  test("a change naming a route that no longer exists leaves the table as it was", async () => {
    await withServices(db, async (services, storage) => {
      await services.apis.apply({ identifier: "urn:orders", name: "Orders" });
      await services.routes.create("urn:orders", { path_prefix: "/orders", upstream: "http://orders:8080", public: true });
      const table = await loadRouteTable(storage, testContext());
      const before = answers(table);
      await expect(applyRouteChanges(table, storage, testContext(), [{ seq: 1, entity: "route", key: "no-such-route" }])).resolves.toBeUndefined();
      expect(answers(table)).toEqual(before);
    });
  });
});
