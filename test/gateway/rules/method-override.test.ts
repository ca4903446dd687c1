// Method overrides in form-encoded text: every spelling of a `_method` field name a backend may read,
// found whichever way the text is cut into pieces; and the query without them.
import { MethodFieldScanner, withoutMethodOverride } from "../../../src/gateway/rules/method-override.ts";

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

describe("withoutMethodOverride", () => {
  test("removes every `_method` parameter, keeping the others and their separators exactly", () => {
    expect(withoutMethodOverride("_method=DELETE")).toBe("");
    expect(withoutMethodOverride("a=1&_method=DELETE&b=%2F")).toBe("a=1&b=%2F");
    expect(withoutMethodOverride("%5Fmethod=PUT&x=1;y=2&_METHOD")).toBe("x=1;y=2");
    expect(withoutMethodOverride("&a=1&_method[]=x&")).toBe("&a=1&");
  });

  test("a query without one comes back as the same string", () => {
    const query = "expand=items&x=%2F&a=_method";
    expect(withoutMethodOverride(query)).toBe(query);
  });
});
