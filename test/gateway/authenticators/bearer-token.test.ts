// Finding the bearer token (RFC 6750 §2): header, query when allowed, never two.
import { extractBearerToken } from "../../../src/gateway/authenticators/bearer-token.ts";
import { InvalidRequest, InvalidToken } from "../../../src/gateway/errors.ts";
import type { GatewayRequest } from "../../../src/gateway/types.ts";

function request(authorization: string | undefined, query = ""): GatewayRequest {
  return { method: "GET", path: "/things", query, host: "api.example.test", headers: authorization === undefined ? {} : { authorization }, remoteAddress: "127.0.0.1" };
}

function refusal(run: () => unknown): { constructor: unknown; reason: string; status: number } {
  try {
    run();
  } catch (error) {
    return error as { constructor: unknown; reason: string; status: number };
  }
  throw new Error("expected a refusal");
}

describe("extractBearerToken", () => {
  test("no credentials at all → undefined", () => {
    expect(extractBearerToken(request(undefined), false)).toBeUndefined();
    expect(extractBearerToken(request(undefined, "a=1&b=2"), true)).toBeUndefined();
  });

  test("Authorization: Bearer, scheme case-insensitive, query untouched", () => {
    expect(extractBearerToken(request("Bearer abc.DEF-_~+/=="), false)).toEqual({ token: "abc.DEF-_~+/==", query: "", scheme: "Bearer" });
    expect(extractBearerToken(request("bearer xyz", "a=%20b+c"), false)).toEqual({ token: "xyz", query: "a=%20b+c", scheme: "Bearer" });
    expect(extractBearerToken(request("BEARER  xyz"), false)?.token).toBe("xyz");
  });

  test("another scheme is not ours → undefined", () => {
    expect(extractBearerToken(request("Basic dXNlcjpwYXNz"), false)).toBeUndefined();
    // RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme (its proof is checked in the pipeline).
    expect(extractBearerToken(request("DPoP abc.def"), false)).toEqual({ token: "abc.def", query: "", scheme: "DPoP" });
    expect(extractBearerToken(request("dpop  abc"), false)?.scheme).toBe("DPoP");
    expect(extractBearerToken(request("Bearerabc"), false)).toBeUndefined();
  });

  test("a malformed bearer token → invalid_token token_malformed", () => {
    for (const header of ["Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer \"abc\"", "Bearer\tabc", "Bearer abc,def"]) {
      const error = refusal(() => extractBearerToken(request(header), false));
      expect(error).toBeInstanceOf(InvalidToken);
      expect(error.reason).toBe("token_malformed");
      expect(error.status).toBe(401);
    }
  });

  test("a query token is refused unless the API allows it", () => {
    const error = refusal(() => extractBearerToken(request(undefined, "access_token=abc"), false));
    expect(error).toBeInstanceOf(InvalidRequest);
    expect(error.reason).toBe("token_in_query");
    expect(error.status).toBe(400);
  });

  test("an allowed query token is taken out of the forwarded query, other parameters keep their encoding", () => {
    expect(extractBearerToken(request(undefined, "a=%2F+x&access_token=abc.def&b=1"), true)).toEqual({ token: "abc.def", query: "a=%2F+x&b=1", scheme: "Bearer" });
    expect(extractBearerToken(request(undefined, "access%5Ftoken=abc"), true)).toEqual({ token: "abc", query: "", scheme: "Bearer" });
    expect(refusal(() => extractBearerToken(request(undefined, "access_token="), true)).reason).toBe("token_malformed");
  });

  test("a token in the header and the query, or two in the query → invalid_request", () => {
    for (const [header, query] of [
      ["Bearer abc", "access_token=abc"],
      [undefined, "access_token=a&access_token=b"],
    ] as const) {
      const error = refusal(() => extractBearerToken(request(header, query), true));
      expect(error).toBeInstanceOf(InvalidRequest);
      expect(error.reason).toBe("token_multiple");
    }
  });

  test("a Basic header plus an allowed query token: the query token is the credential", () => {
    expect(extractBearerToken(request("Basic dXNlcjpwYXNz", "access_token=abc"), true)).toEqual({ token: "abc", query: "", scheme: "Bearer" });
  });
});
