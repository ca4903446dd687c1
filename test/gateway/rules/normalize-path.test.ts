// The request path's normal form: what is matched is what the upstream gets, so every way of
// writing a path must either come out in one form or be refused.
import { MAX_PATH_LENGTH, normalizePath } from "../../../src/gateway/rules/normalize-path.ts";
import { InvalidRequest } from "../../../src/gateway/errors.ts";

function refusal(rawPath: string): InvalidRequest {
  try {
    normalizePath(rawPath);
  } catch (error) {
    if (error instanceof InvalidRequest) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(rawPath)} was accepted`);
}

describe("normalizePath", () => {
  describe("paths already in normal form are unchanged", () => {
    test.each(["/", "/orders", "/orders/", "/orders/1", "/a/b/c/", "/a%20b", "/caf%C3%A9", "/x!$&'()*+,;=:@y", "/~user", "/a.b/.c/..d/...", "/%25"])(
      "%s",
      (path) => {
        expect(normalizePath(path)).toBe(path);
      },
    );
  });

  describe("traversal is resolved before matching, whatever its encoding", () => {
    test.each([
      ["/public/../admin", "/admin"],
      ["/public/%2e%2e/admin", "/admin"],
      ["/public/%2E%2E/admin", "/admin"],
      ["/public/%2E%2e/admin", "/admin"],
      ["/public/.%2e/admin", "/admin"],
      ["/public/%2e./admin", "/admin"],
      ["/public/%2e/admin", "/public/admin"],
      ["/public/./admin", "/public/admin"],
      ["/public/a/b/../../../admin", "/admin"],
      ["/public//..//admin", "/admin"],
    ])("%s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });
  });

  describe("climbing above the root stays at the root (RFC 3986 §5.2.4)", () => {
    test.each([
      ["/..", "/"],
      ["/../admin", "/admin"],
      ["/%2e%2e/%2e%2e/admin", "/admin"],
      ["/a/../../../admin/", "/admin/"],
    ])("%s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });
  });

  describe("dot segments and duplicate slashes", () => {
    test.each([
      ["//a///b/./c/../d", "/a/b/d"],
      ["//", "/"],
      ["///orders", "/orders"],
      ["/orders//", "/orders/"],
      ["/a/b/..", "/a/"],
      ["/a/b/.", "/a/b/"],
      ["/a/b/%2e", "/a/b/"],
      ["/.", "/"],
      ["/./", "/"],
    ])("%s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });

    test("segments that only contain dots besides . and .. are ordinary names", () => {
      expect(normalizePath("/.../a/..b/b../.hidden")).toBe("/.../a/..b/b../.hidden");
    });
  });

  describe("percent-encoding", () => {
    test.each([
      ["/%7Euser", "/~user"],
      ["/%7euser", "/~user"],
      ["/%41%62%30%2D%5F%2E", "/Ab0-_."],
      ["/a%20b", "/a%20b"],
      ["/a%2ab", "/a%2Ab"],
      ["/caf%c3%a9", "/caf%C3%A9"],
      ["/%3f%23", "/%3F%23"],
      ["/%25", "/%25"],
    ])("unreserved characters are decoded, other encodings upper-cased: %s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });

    test.each([
      ["/%252e%252e/admin", "/%252e%252e/admin"],
      ["/public/%252e%252e%252fadmin", "/public/%252e%252e%252fadmin"],
      ["/%25%37%45", "/%257E"],
      ["/%252F", "/%252F"],
    ])("decoding happens once: %s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
      expect(normalizePath(normal)).toBe(normal);
    });

    test.each(["/%", "/a%", "/%2", "/%G1", "/%1G", "/%%30", "/%-1", "/% 1", "/%2/x", "/%e2%8"])("malformed encoding %s is refused", (raw) => {
      expect(refusal(raw).reason).toBe("path_malformed_encoding");
    });
  });

  describe("encoded slashes and backslashes are refused", () => {
    test.each(["/public/..%2fadmin", "/public/..%2Fadmin", "/a%2fb", "/%2F", "/a%5cb", "/public/..%5Cadmin"])("%s", (raw) => {
      const error = refusal(raw);
      expect(error.status).toBe(400);
      expect(error.code).toBe("invalid_request");
      expect(error.reason).toBe("path_encoded_slash");
    });

    test.each(["/a\\b", "/public\\..\\admin", "\\admin"])("a raw backslash is refused: %s", (raw) => {
      expect(refusal(raw).reason).toMatch(/^path_(backslash|not_absolute)$/);
    });

    test("a raw backslash inside the path has its own reason", () => {
      expect(refusal("/a\\b").reason).toBe("path_backslash");
    });
  });

  describe("dot segments with parameters are refused (servlet containers drop the parameter, then resolve the dots)", () => {
    test.each(["/public/..;/admin", "/public/..;x=1/admin", "/public/.;/admin", "/public/%2e%2e;/admin", "/public/..%3b/admin", "/public/.%2E%3Bjsessionid=1/admin", "/a/..;"])("%s", (raw) => {
      expect(refusal(raw).reason).toBe("path_dot_segment_parameters");
    });

    test.each([
      ["/a;b/c", "/a;b/c"],
      ["/public/...;/x", "/public/...;/x"],
      ["/;/x", "/;/x"],
      ["/a/.x;y", "/a/.x;y"],
    ])("other segments with parameters are ordinary: %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });
  });

  describe("control characters are refused, raw or encoded", () => {
    test.each(["/a\u0000b", "/a\tb", "/a\nb", "/a\rb", "/a\u001fb", "/a\u007fb", "/a%00b", "/a%0Ab", "/a%0db", "/a%1F", "/a%7f", "/a%09"])("%j", (raw) => {
      expect(refusal(raw).reason).toBe("path_control_character");
    });

    test("bytes above 0x7F in encoded form are data, not control characters", () => {
      expect(normalizePath("/%80%9f%ff")).toBe("/%80%9F%FF");
    });
  });

  describe("characters a path may not hold raw are percent-encoded", () => {
    test.each([
      ["/a b", "/a%20b"],
      ["/a|b", "/a%7Cb"],
      ["/{x}", "/%7Bx%7D"],
      ['/"<>^`', "/%22%3C%3E%5E%60"],
      ["/[x]#y", "/%5Bx%5D%23y"],
    ])("%s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });

    test("the raw and the encoded form of a character match the same way", () => {
      expect(normalizePath("/a b/c")).toBe(normalizePath("/a%20b/c"));
    });
  });

  describe("unicode", () => {
    test.each([
      ["/café", "/caf%C3%A9"],
      ["/東京/駅", "/%E6%9D%B1%E4%BA%AC/%E9%A7%85"],
      ["/😀/x", "/%F0%9F%98%80/x"],
    ])("raw characters are encoded as UTF-8: %s → %s", (raw, normal) => {
      expect(normalizePath(raw)).toBe(normal);
    });

    test("the raw and the encoded form match the same way", () => {
      expect(normalizePath("/café")).toBe(normalizePath("/caf%c3%a9"));
    });

    test("a fullwidth dot is not a dot", () => {
      expect(normalizePath("/a/\uff0e\uff0e/b")).toBe("/a/%EF%BC%8E%EF%BC%8E/b");
    });

    test.each(["/\ud800", "/a\udc00b", "/\ud83d/x"])("a lone surrogate is refused: %j", (raw) => {
      expect(refusal(raw).reason).toBe("path_invalid_unicode");
    });
  });

  describe("targets that are not an absolute path are refused", () => {
    test.each(["", "*", "orders", "http://evil.example/admin", "./admin", "%2Fadmin"])("%j", (raw) => {
      expect(refusal(raw).reason).toBe("path_not_absolute");
    });
  });

  describe("length", () => {
    test(`a path of ${MAX_PATH_LENGTH} characters is accepted`, () => {
      const path = `/${"a".repeat(MAX_PATH_LENGTH - 1)}`;
      expect(normalizePath(path)).toBe(path);
    });

    test("a longer path is refused, even one that would shrink when normalized", () => {
      expect(refusal(`/${"a".repeat(MAX_PATH_LENGTH)}`).reason).toBe("path_too_long");
      expect(refusal("/".repeat(MAX_PATH_LENGTH + 1)).reason).toBe("path_too_long");
    });
  });

  test("the normal form is a fixed point", () => {
    for (const raw of ["/public/%2e%2e/admin", "//a///b/./c/../d", "/caf%c3%a9/ x", "/%7Euser/", "/%252e"]) {
      const once = normalizePath(raw);
      expect(normalizePath(once)).toBe(once);
    }
  });
});
