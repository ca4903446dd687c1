// The path the upstream receives: the route's prefix stripped, kept or replaced, then joined with
// the upstream URL's own base path.
import { joinUpstream, upstreamPath } from "../../../src/gateway/rules/rewrite-path.ts";
import { routeRecord } from "./fixtures.ts";

describe("upstreamPath", () => {
  describe('"strip" removes the prefix', () => {
    const route = routeRecord({ id: "orders", pathPrefix: "/orders", rewrite: "strip" });

    test.each([
      ["/orders/1", "/1"],
      ["/orders/1/items/", "/1/items/"],
      ["/orders", "/"],
      ["/orders/", "/"],
    ])("%s → %s", (path, upstream) => {
      expect(upstreamPath(route, path)).toBe(upstream);
    });

    test('with the prefix "/" the path is unchanged', () => {
      const root = routeRecord({ id: "root", pathPrefix: "/", rewrite: "strip" });
      expect(upstreamPath(root, "/a/b")).toBe("/a/b");
      expect(upstreamPath(root, "/")).toBe("/");
    });
  });

  test('"keep" passes the path on', () => {
    const route = routeRecord({ id: "orders", pathPrefix: "/orders", rewrite: "keep" });
    expect(upstreamPath(route, "/orders/1")).toBe("/orders/1");
    expect(upstreamPath(route, "/orders")).toBe("/orders");
  });

  describe("a replacement path takes the prefix's place", () => {
    const route = routeRecord({ id: "orders", pathPrefix: "/orders", rewrite: "/v2/orders" });

    test.each([
      ["/orders/1", "/v2/orders/1"],
      ["/orders", "/v2/orders"],
      ["/orders/", "/v2/orders/"],
    ])("%s → %s", (path, upstream) => {
      expect(upstreamPath(route, path)).toBe(upstream);
    });

    test('"/" as replacement is the same as "strip"', () => {
      const slash = routeRecord({ id: "orders", pathPrefix: "/orders", rewrite: "/" });
      expect(upstreamPath(slash, "/orders/1")).toBe("/1");
      expect(upstreamPath(slash, "/orders")).toBe("/");
    });

    test('replacing the prefix "/" puts the replacement in front', () => {
      const root = routeRecord({ id: "root", pathPrefix: "/", rewrite: "/v2" });
      expect(upstreamPath(root, "/a")).toBe("/v2/a");
    });
  });

  test("a path the route did not match is a programming error", () => {
    const route = routeRecord({ id: "orders", pathPrefix: "/orders", rewrite: "strip" });
    expect(() => upstreamPath(route, "/users/1")).toThrow(/does not start with the prefix \/orders/);
  });
});

describe("joinUpstream", () => {
  test.each([
    ["http://h:1/base", "/1", "http://h:1", "/base/1"],
    ["http://h:1/base/", "/1", "http://h:1", "/base/1"],
    ["http://h:1", "/1", "http://h:1", "/1"],
    ["http://h:1/", "/1/", "http://h:1", "/1/"],
    ["https://backend.internal/api/v1", "/orders/7", "https://backend.internal", "/api/v1/orders/7"],
    ["http://h/base", "/", "http://h", "/base"],
    ["http://h/base/", "/", "http://h", "/base/"],
    ["http://h", "/", "http://h", "/"],
    ["http://H:80/base?x=1#f", "/1", "http://h", "/base/1"],
  ])("%s + %s → %s %s", (upstream, path, origin, joined) => {
    expect(joinUpstream(upstream, path)).toEqual({ origin, path: joined });
  });
});
