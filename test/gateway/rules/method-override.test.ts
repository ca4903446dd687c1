// Method overrides in form-encoded text: every spelling of a `_method` field name a backend may read,
// found whichever way the text is cut into pieces; and the query without them.
import { MethodFieldScanner, MethodNameMatcher, withoutMethodOverride } from "../../../src/gateway/rules/method-override.ts";

/** Spellings that Rails, Laravel, Symfony, PHP or Express read as (or that the gateway treats as) `_method`. */
const OVERRIDES = [
  "_method=DELETE",
  "_method",
  "_method=",
  "a=1&_method=PUT",
  "a=1&_method",
  "a=1;_method=PUT",
  "%5Fmethod=DELETE",
  "%5fmethod=DELETE",
  "_m%65thod=DELETE",
  "%5F%6D%65%74%68%6F%64=DELETE",
  "_METHOD=DELETE",
  "_Method=DELETE",
  "+_method=DELETE",
  "%20%20_method=DELETE",
  ".method=DELETE",
  "%2Emethod=DELETE",
  " method_x=1&-method=DELETE",
  "_method[]=DELETE",
  "_method%5B0%5D=DELETE",
  "a=%26_method%3D&_method=x",
  // PHP cuts a name at a NUL: "_method\0x" is `_method`.
  "_method%00=DELETE",
  "_method%00x=DELETE",
  "a=1&_method%00",
  "_method\u0000=DELETE",
  "_METHOD%00%5B=DELETE",
  // Rack 2 ignores leading "[" and "]" and ends a name at "]".
  "[_method]=DELETE",
  "%5B_method%5D=DELETE",
  "]_method=DELETE",
  "_method]=DELETE",
  "[[%5D_method=DELETE",
  // PHP: an unclosed "[".
  "_method[x=DELETE",
  // Trailing whitespace and ".".
  "_method+=DELETE",
  "_method%20%20=DELETE",
  "_method%09=DELETE",
  "_method%0A=DELETE",
  "_method.=DELETE",
  "_method%2E=DELETE",
  "+_method+=DELETE",
];

/** Near misses: other names, or `_method` only in a value or an encoded separator. */
const CLEAN = [
  "",
  "method=DELETE",
  "_methods=DELETE",
  "x_method=DELETE",
  "a=_method",
  "a=_method&b=1",
  "a=1%26_method%3DDELETE",
  "_method%3D=DELETE",
  "_method%=DELETE",
  "_metho%64d=DELETE",
  "__method=DELETE",
  "%5F_method=1",
  "method_=1",
  "_method_=DELETE",
  "_method-=DELETE",
  "_methodx=DELETE",
  "_method.x=DELETE",
  "_method%20x=DELETE",
  "_me%00thod=DELETE",
  "%00_method=DELETE",
  "x[_method]=DELETE",
  "x%00_method=DELETE",
  "_method%=DELETE",
  "a=_method%00",
];

function scanInPieces(text: string, cut: number): boolean {
  const scanner = new MethodFieldScanner();
  const bytes = Buffer.from(text);
  return scanner.feed(bytes.subarray(0, cut)) || scanner.feed(bytes.subarray(cut)) || scanner.end();
}

describe("MethodFieldScanner", () => {
  test.each(OVERRIDES)("finds %j, however the text is cut", (text) => {
    expect(MethodFieldScanner.in(text)).toBe(true);
    for (let cut = 0; cut <= text.length; cut++) expect([cut, scanInPieces(text, cut)]).toEqual([cut, true]);
  });

  test.each(CLEAN)("finds nothing in %j, however the text is cut", (text) => {
    expect(MethodFieldScanner.in(text)).toBe(false);
    for (let cut = 0; cut <= text.length; cut++) expect([cut, scanInPieces(text, cut)]).toEqual([cut, false]);
  });

  test("byte by byte", () => {
    const scanner = new MethodFieldScanner();
    const text = Buffer.from("a=1&b=2&%5Fmeth%6Fd=GET");
    let found = false;
    for (const byte of text) found ||= scanner.feed(Uint8Array.of(byte));
    expect(found || scanner.end()).toBe(true);
  });
});

describe("MethodNameMatcher", () => {
  test("a decoded name: the same rules, without percent decoding", () => {
    for (const name of ["_method", "_METHOD", ".method", " .method", "-method", "_method\0", "_method\0x", "[_method]", "_method[]", "_method ", "_method.", "  _method"]) {
      expect([name, MethodNameMatcher.test(name)]).toEqual([name, true]);
    }
    for (const name of ["%5Fmethod", "_methods", "__method", "_method_", "method", "", "_metho", "\0_method", "x_method", " method"]) expect([name, MethodNameMatcher.test(name)]).toEqual([name, false]);
  });
});

describe("withoutMethodOverride", () => {
  test("removes every `_method` parameter, keeping the others and their separators exactly", () => {
    expect(withoutMethodOverride("_method=DELETE")).toBe("");
    expect(withoutMethodOverride("a=1&_method=DELETE&b=%2F")).toBe("a=1&b=%2F");
    expect(withoutMethodOverride("%5Fmethod=PUT&x=1;y=2&_METHOD")).toBe("x=1;y=2");
    expect(withoutMethodOverride("&a=1&_method[]=x&")).toBe("&a=1&");
    expect(withoutMethodOverride("a=1&_method%00=DELETE&b=2")).toBe("a=1&b=2");
    expect(withoutMethodOverride("%5B_method%5D=DELETE&_method+=PUT&_method.=PATCH&c=3")).toBe("c=3");
  });

  test("a query without one comes back as the same string", () => {
    const query = "expand=items&x=%2F&a=_method";
    expect(withoutMethodOverride(query)).toBe(query);
  });
});
