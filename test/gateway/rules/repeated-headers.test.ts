// Host, Content-Length and Authorization may come once: a second copy, in any case, is a 400.
import { InvalidRequest } from "../../../src/gateway/errors.ts";
import { refuseRepeatedHeaders } from "../../../src/gateway/rules/repeated-headers.ts";

function refusal(rawHeaders: string[]): unknown {
  try {
    refuseRepeatedHeaders(rawHeaders);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("refuseRepeatedHeaders", () => {
  test.each([
    ["Host", "host"],
    ["Content-Length", "content-length"],
    ["Authorization", "AUTHORIZATION"],
  ])("two %s headers (%s the second time) → 400 header_repeated", (first, second) => {
    const error = refusal([first, "a", "Accept", "*/*", second, "b"]);
    expect(error).toBeInstanceOf(InvalidRequest);
    expect((error as InvalidRequest).status).toBe(400);
    expect((error as InvalidRequest).reason).toBe("header_repeated");
  });

  test("one of each, and repeated headers that may repeat, pass", () => {
    expect(refusal(["Host", "a", "Content-Length", "1", "Authorization", "Bearer x", "Accept", "a", "Accept", "b", "Cookie", "a", "Cookie", "b", "X-Hostname", "h", "X_Host", "h"])).toBeUndefined();
  });
});
