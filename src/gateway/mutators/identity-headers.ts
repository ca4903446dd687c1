// Tells the backend who is calling. Every header the gateway may set is first removed from the
// incoming request (owned-headers.ts), so a client can never supply its own identity. Claims mapped to
// headers are the claim_headers policy's (policies/claim-headers.ts).
import type { Principal } from "../types.ts";

export const IDENTITY_HEADERS = {
  subject: "x-gatehouse-subject",
  clientId: "x-gatehouse-client-id",
  scopes: "x-gatehouse-scopes",
  issuer: "x-gatehouse-issuer",
  token: "x-gatehouse-token",
} as const;

/** A claim's value as a header value: text as is, anything else as JSON; control characters become spaces. */
export function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  // Header values cannot carry line breaks or other control characters.
  return text.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 4096);
}

/** The headers naming the caller, plus the request's id (X-Request-Id) when given. */
export function identityHeaders(principal: Principal, requestId?: string): Record<string, string> {
  const headers: Record<string, string> = {
    [IDENTITY_HEADERS.subject]: headerValue(principal.subject) ?? "",
    [IDENTITY_HEADERS.scopes]: [...principal.scopes].join(" "),
    [IDENTITY_HEADERS.issuer]: principal.issuer,
  };
  if (principal.clientId) headers[IDENTITY_HEADERS.clientId] = headerValue(principal.clientId)!;
  if (requestId !== undefined) headers["x-request-id"] = requestId;
  return headers;
}
