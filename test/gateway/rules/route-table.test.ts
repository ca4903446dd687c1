// Matching requests to routes: prefixes on segment boundaries, hosts, methods, and which route
// wins when several could.
import { RouteTable } from "../../../src/gateway/rules/route-table.ts";
import { compiled } from "./fixtures.ts";
import type { RouteRecord } from "../../../src/storage/index.ts";

function table(...routes: (Partial<RouteRecord> & { id: string })[]): RouteTable {
  return new RouteTable(routes.map(compiled));
}

function matchedId(routes: RouteTable, path: string, { host = "gateway.example.com", method = "GET" } = {}): string | undefined {
  return routes.match(host, method, path)?.route.id;
}

describe("RouteTable", () => {
  test("size counts the routes", () => {
    expect(table().size).toBe(0);
    expect(table({ id: "a", pathPrefix: "/a" }, { id: "b", pathPrefix: "/a", host: "x.example" }).size).toBe(2);
  });

  test("an empty table matches nothing", () => {
    expect(matchedId(table(), "/")).toBeUndefined();
  });

  describe("prefixes match on segment boundaries", () => {
    const routes = table({ id: "orders", pathPrefix: "/orders" });

    test.each(["/orders", "/orders/", "/orders/1", "/orders/1/items/"])("/orders matches %s", (path) => {
      expect(matchedId(routes, path)).toBe("orders");
    });

    test.each(["/ordersx", "/order", "/", "/other/orders", "/Orders"])("/orders does not match %s", (path) => {
      expect(matchedId(routes, path)).toBeUndefined();
    });

    test("a deeper prefix needs every one of its segments", () => {
      const nested = table({ id: "items", pathPrefix: "/orders/items" });
      expect(matchedId(nested, "/orders/items/3")).toBe("items");
      expect(matchedId(nested, "/orders/itemsx")).toBeUndefined();
      expect(matchedId(nested, "/orders")).toBeUndefined();
      expect(matchedId(nested, "/orders/")).toBeUndefined();
    });
  });

  test.each(["/", "/anything", "/a/b/c/", "/ordersx"])('"/" matches every path: %s', (path) => {
    expect(matchedId(table({ id: "root", pathPrefix: "/" }), path)).toBe("root");
  });

  describe("the longest prefix wins", () => {
    const routes = table(
      { id: "root", pathPrefix: "/" },
      { id: "orders", pathPrefix: "/orders" },
      { id: "items", pathPrefix: "/orders/items" },
      { id: "itemsv2", pathPrefix: "/orders/items/v2" },
    );

    test.each([
      ["/", "root"],
      ["/ordersx", "root"],
      ["/orders", "orders"],
      ["/orders/1", "orders"],
      ["/orders/items", "items"],
      ["/orders/items/", "items"],
      ["/orders/items/v3", "items"],
      ["/orders/items/v2/1", "itemsv2"],
      ["/orders/itemsv2", "orders"],
    ])("%s → %s", (path, id) => {
      expect(matchedId(routes, path)).toBe(id);
    });

    test("whatever order the routes are given in", () => {
      const reversed = table({ id: "items", pathPrefix: "/orders/items" }, { id: "orders", pathPrefix: "/orders" }, { id: "root", pathPrefix: "/" });
      expect(matchedId(reversed, "/orders/items/1")).toBe("items");
      expect(matchedId(reversed, "/orders/1")).toBe("orders");
    });
  });

  describe("hosts", () => {
    const routes = table({ id: "api-host", pathPrefix: "/orders", host: "api.example.com" }, { id: "any-host", pathPrefix: "/orders/items" });

    test("a route with a host matches only that host", () => {
      expect(matchedId(table({ id: "h", pathPrefix: "/", host: "api.example.com" }), "/x", { host: "other.example.com" })).toBeUndefined();
    });

    test.each(["api.example.com", "API.Example.COM", "api.example.com:8443", "Api.Example.Com:80", "api.example.com."])("the host is compared without case or port: %s", (host) => {
      expect(matchedId(routes, "/orders/1", { host })).toBe("api-host");
    });

    test("a route's host is compared without case", () => {
      expect(matchedId(table({ id: "h", pathPrefix: "/", host: "API.example.com" }), "/x", { host: "api.example.com" })).toBe("h");
    });

    test("the host's routes win over routes for any host, even with a shorter prefix", () => {
      expect(matchedId(routes, "/orders/items/1", { host: "api.example.com" })).toBe("api-host");
      expect(matchedId(routes, "/orders/items/1", { host: "other.example.com" })).toBe("any-host");
    });

    test("routes for any host still serve that host's other paths", () => {
      const mixed = table({ id: "api-host", pathPrefix: "/orders", host: "api.example.com" }, { id: "any-host", pathPrefix: "/users" });
      expect(matchedId(mixed, "/users/1", { host: "api.example.com" })).toBe("any-host");
    });

    test("a host that is only a suffix or prefix of the route's host does not match", () => {
      const single = table({ id: "h", pathPrefix: "/", host: "example.com" });
      expect(matchedId(single, "/", { host: "evil-example.com" })).toBeUndefined();
      expect(matchedId(single, "/", { host: "example.com.evil" })).toBeUndefined();
      expect(matchedId(single, "/", { host: "" })).toBeUndefined();
    });

    test("a bracketed IPv6 host keeps its colons and loses its port", () => {
      expect(matchedId(table({ id: "any", pathPrefix: "/" }), "/", { host: "[::1]:8080" })).toBe("any");
    });
  });

  describe("methods", () => {
    const routes = table({ id: "read", pathPrefix: "/orders", methods: ["GET"] }, { id: "write", pathPrefix: "/orders", methods: ["POST", "PUT"], apiIdentifier: "urn:gatehouse:writes" });

    test("a route with methods matches only those", () => {
      expect(matchedId(routes, "/orders", { method: "GET" })).toBe("read");
      expect(matchedId(routes, "/orders/1", { method: "PUT" })).toBe("write");
      expect(matchedId(routes, "/orders/1", { method: "POST" })).toBe("write");
    });

    test("HEAD matches a route that allows GET", () => {
      expect(matchedId(routes, "/orders/1", { method: "HEAD" })).toBe("read");
      expect(matchedId(table({ id: "post", pathPrefix: "/", methods: ["POST"] }), "/", { method: "HEAD" })).toBeUndefined();
    });

    test("a route without methods matches every method", () => {
      const any = table({ id: "any", pathPrefix: "/" });
      for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) expect(matchedId(any, "/x", { method })).toBe("any");
    });

    test("methods are compared as given (they are case-sensitive)", () => {
      expect(matchedId(routes, "/orders", { method: "get" })).toBeUndefined();
    });

    test("when the path matches but no route allows the method there is no match", () => {
      expect(matchedId(routes, "/orders/1", { method: "DELETE" })).toBeUndefined();
      expect(routes.allowedMethods("gateway.example.com", "/orders/1")).toEqual(["GET", "HEAD", "POST", "PUT"]);
    });

    test("a method refused by the longest prefix does not fall through to a shorter one", () => {
      const guarded = table({ id: "public-root", pathPrefix: "/", public: true }, { id: "admin", pathPrefix: "/admin", methods: ["GET"] });
      expect(matchedId(guarded, "/admin/users", { method: "GET" })).toBe("admin");
      expect(matchedId(guarded, "/admin/users", { method: "POST" })).toBeUndefined();
      expect(matchedId(guarded, "/other", { method: "POST" })).toBe("public-root");
    });

    test("nor does one refused by the host's routes fall through to routes for any host", () => {
      const guarded = table({ id: "public-any", pathPrefix: "/", public: true }, { id: "host-read", pathPrefix: "/", host: "api.example.com", methods: ["GET"] });
      expect(matchedId(guarded, "/x", { host: "api.example.com", method: "DELETE" })).toBeUndefined();
      expect(guarded.allowedMethods("api.example.com", "/x")).toEqual(["GET", "HEAD"]);
    });

    test("allowedMethods is empty when no route owns the path", () => {
      expect(routes.allowedMethods("gateway.example.com", "/users")).toEqual([]);
    });
  });

  describe("methods by scope rules", () => {
    const rule = { allOf: ["orders:read"], anyOf: [] };

    test("a route with per-method rules accepts only the methods that have one (HEAD with GET)", () => {
      const ruled = table({ id: "orders", pathPrefix: "/orders", scopes: { GET: rule, POST: { allOf: ["orders:write"], anyOf: [] } } });
      for (const method of ["GET", "HEAD", "POST"]) expect(matchedId(ruled, "/orders/1", { method })).toBe("orders");
      for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) expect(matchedId(ruled, "/orders/1", { method })).toBeUndefined();
      expect(ruled.allowedMethods("gateway.example.com", "/orders/1")).toEqual(["GET", "HEAD", "POST"]);
    });

    test("a default rule (\"*\") accepts every method; no rules at all, too", () => {
      const defaulted = table({ id: "d", pathPrefix: "/d", scopes: { GET: rule, "*": rule } }, { id: "open", pathPrefix: "/open" });
      for (const method of ["GET", "DELETE", "OPTIONS", "PATCH"]) {
        expect(matchedId(defaulted, "/d/1", { method })).toBe("d");
        expect(matchedId(defaulted, "/open/1", { method })).toBe("open");
      }
    });

    test("with methods too, a route accepts the methods both allow", () => {
      const both = table({ id: "both", pathPrefix: "/b", methods: ["GET", "DELETE"], scopes: { GET: rule, POST: rule } });
      expect(matchedId(both, "/b", { method: "GET" })).toBe("both");
      expect(matchedId(both, "/b", { method: "HEAD" })).toBe("both");
      for (const method of ["POST", "DELETE"]) expect(matchedId(both, "/b", { method })).toBeUndefined();
      expect(both.allowedMethods("gateway.example.com", "/b")).toEqual(["GET", "HEAD"]);
    });

    test("a method refused by the rules does not fall through to a shorter prefix either", () => {
      const guarded = table({ id: "root", pathPrefix: "/", public: true }, { id: "orders", pathPrefix: "/orders", scopes: { GET: rule } });
      expect(matchedId(guarded, "/orders/1", { method: "DELETE" })).toBeUndefined();
      expect(guarded.allowedMethods("gateway.example.com", "/orders/1")).toEqual(["GET", "HEAD"]);
    });
  });

  test("among routes at the same prefix and host, the first given that accepts the method wins", () => {
    const routes = table({ id: "first", pathPrefix: "/orders", apiIdentifier: "urn:gatehouse:a" }, { id: "second", pathPrefix: "/orders", apiIdentifier: "urn:gatehouse:b" });
    expect(matchedId(routes, "/orders")).toBe("first");
  });

  describe("stored prefixes that are not in normal form still match", () => {
    test("an encoded unreserved character is matched decoded", () => {
      const routes = table({ id: "public-root", pathPrefix: "/", public: true }, { id: "tilde", pathPrefix: "/%7Eadmin" });
      expect(matchedId(routes, "/~admin/x")).toBe("tilde");
      const match = routes.match("gateway.example.com", "GET", "/~admin/x")!;
      expect(match.route.pathPrefix).toBe("/~admin");
    });

    test("lower-case hex is matched upper-cased", () => {
      expect(matchedId(table({ id: "cafe", pathPrefix: "/caf%c3%a9" }), "/caf%C3%A9")).toBe("cafe");
    });

    test("a replacement path is put in normal form too", () => {
      const match = table({ id: "r", pathPrefix: "/a", rewrite: "/v%7e2" }).match("h", "GET", "/a")!;
      expect(match.route.rewrite).toBe("/v~2");
    });

    test("a route already in normal form comes back as given", () => {
      const given = compiled({ id: "orders", pathPrefix: "/orders" });
      expect(new RouteTable([given]).match("h", "GET", "/orders")).toBe(given);
    });
  });

  test.each([
    [{ pathPrefix: "/a%2fb" }, /route bad: path prefix "\/a%2fb"/],
    [{ pathPrefix: "/a%G1" }, /route bad: path prefix/],
    [{ pathPrefix: "orders" }, /route bad: path prefix/],
    [{ rewrite: "v2" }, /route bad: rewrite "v2"/],
  ])("a route that could never match is refused when the table is built: %j", (fields, message) => {
    expect(() => table({ id: "bad", ...fields })).toThrow(message);
  });
});
