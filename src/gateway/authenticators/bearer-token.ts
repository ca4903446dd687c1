// Finds the access token of a request (RFC 6750 §2): the Authorization header (scheme Bearer, or DPoP
// for a DPoP-bound token, RFC 9449 §7.1), or the access_token query parameter when the API allows it. Form-encoded body parameters (§2.2) are not read: the
// gateway streams request bodies to the upstream untouched, so such a request counts as carrying no
// token.
import { InvalidRequest, InvalidToken } from "../errors.ts";
import type { GatewayRequest } from "../types.ts";

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** auth-scheme, then whatever follows it; for Bearer that must be 1*SP b64token. */
const AUTHORIZATION = /^(\S+)(.*)$/s;

export interface BearerToken {
  token: string;
  /** The query to forward: the request's own, minus any access_token parameter. */
  query: string;
  /** The Authorization scheme it came with: "DPoP" needs a proof (dpop.ts); the query is always "Bearer". */
  scheme: "Bearer" | "DPoP";
}

/**
 * The request's bearer token, or undefined when it carries none (no Authorization header, or one
 * with another scheme such as Basic: not ours to judge). Throws InvalidToken for a malformed token
 * and InvalidRequest for a token in the query of an API that does not allow it, or for more than one.
 */
export function extractBearerToken(request: GatewayRequest, allowQueryToken: boolean): BearerToken | undefined {
  const fromHeader = headerToken(request.headers.authorization);
  const fromQuery = queryTokens(request.query);

  if (fromQuery.tokens.length === 0) return fromHeader === undefined ? undefined : { token: fromHeader.token, query: request.query, scheme: fromHeader.scheme };
  if (fromHeader !== undefined || fromQuery.tokens.length > 1) {
    throw new InvalidRequest("the request carries more than one access token", "token_multiple");
  }
  if (!allowQueryToken) throw new InvalidRequest("access tokens in the query string are not accepted for this API", "token_in_query");
  return { token: wellFormed(fromQuery.tokens[0]!), query: fromQuery.rest, scheme: "Bearer" };
}

/** Bearer (RFC 6750 §2.1) or DPoP (RFC 9449 §7.1, the same token68 syntax), without regard to case. */
function headerToken(authorization: string | undefined): { token: string; scheme: "Bearer" | "DPoP" } | undefined {
  const match = authorization === undefined ? null : AUTHORIZATION.exec(authorization.trim());
  const scheme = match?.[1]!.toLowerCase();
  if (scheme !== "bearer" && scheme !== "dpop") return undefined;
  return { token: wellFormed(match![2]!.replace(/^ +/, "")), scheme: scheme === "bearer" ? "Bearer" : "DPoP" };
}

function wellFormed(token: string): string {
  if (!B64TOKEN.test(token)) throw new InvalidToken("malformed bearer token", "token_malformed");
  return token;
}

/** Splits the raw query into access_token values and the untouched rest, so other parameters keep their exact encoding. */
function queryTokens(query: string): { tokens: string[]; rest: string } {
  const tokens: string[] = [];
  const kept: string[] = [];
  for (const part of query === "" ? [] : query.split("&")) {
    const [pair] = new URLSearchParams(part);
    if (pair?.[0] === "access_token") tokens.push(pair[1]);
    else kept.push(part);
  }
  return { tokens, rest: kept.join("&") };
}
