// How the samples show what they got: a token endpoint response summarized (type, scopes, expiry, the
// decoded header and claims of each JWT), with every token and secret cut to a few characters so that
// nothing printed can be used. The claims shown are decoded only; the flows verify them where it matters
// (openid-client checks ID tokens, the server checks access tokens when they are used).
import { decodeJwt, decodeProtectedHeader } from "jose";

/** A JWT's header fields that say how it is signed and typed, and its claims. */
export interface DecodedJwt {
  header: { alg?: string; typ?: string; kid?: string };
  claims: Record<string, unknown>;
}

/** An access token: a JWT's contents, or an opaque token cut short. */
export type AccessTokenSummary = ({ format: "jwt" } & DecodedJwt) | { format: "opaque"; value: string };

export interface TokenSummary {
  token_type: string;
  scope: string | null;
  /** Seconds from issue. */
  expires_in: number | null;
  /** ISO 8601 time when the access token expires. */
  expires_at: string | null;
  access_token: AccessTokenSummary;
  id_token?: DecodedJwt;
  /** Cut short: present means the client may refresh. */
  refresh_token?: string;
}

/** The parts of a token endpoint response the summary reads (openid-client's or a browser's JSON). */
export interface TokenResponse {
  token_type: string;
  access_token: string;
  scope?: string;
  expires_in?: number;
  id_token?: string;
  refresh_token?: string;
}

/** The first characters of a secret and its length: enough to tell two apart, useless to anyone else. */
export function abbreviate(secret: string): string {
  return `${secret.slice(0, 6)}…(${secret.length} characters)`;
}

/** A compact JWS's header and claims, decoded without verifying; undefined when it is not one. */
export function decodeJws(token: string): DecodedJwt | undefined {
  if (token.split(".").length !== 3) return undefined;
  try {
    const { alg, typ, kid } = decodeProtectedHeader(token);
    return { header: { alg, typ, kid }, claims: decodeJwt(token) };
  } catch {
    return undefined;
  }
}

export function describeAccessToken(token: string): AccessTokenSummary {
  const decoded = decodeJws(token);
  return decoded ? { format: "jwt", ...decoded } : { format: "opaque", value: abbreviate(token) };
}

/** The summary of a token endpoint response (or of an implicit response's fragment). */
export function describeTokens(response: TokenResponse): TokenSummary {
  const expiresIn = typeof response.expires_in === "number" ? response.expires_in : null;
  return {
    token_type: response.token_type,
    scope: response.scope ?? null,
    expires_in: expiresIn,
    expires_at: expiresIn === null ? null : new Date(Date.now() + expiresIn * 1000).toISOString(),
    access_token: describeAccessToken(response.access_token),
    ...(response.id_token ? { id_token: decodeJws(response.id_token) } : {}),
    ...(response.refresh_token ? { refresh_token: abbreviate(response.refresh_token) } : {}),
  };
}
