// Turns a refusal into the response: RFC 6750 WWW-Authenticate for the token's refusals (401/403), a
// JSON body always (a 429 names the limits used up, as draft-ietf-httpapi-ratelimit-headers'
// "violated-policies").
import { GatewayError, TooManyRequests } from "./errors.ts";

function quoted(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, " ").replace(/[\\"]/g, "\\$&")}"`;
}

export function wwwAuthenticate(realm: string, error: GatewayError): string | undefined {
  if (!error.bearer) return undefined;
  const params = [`realm=${quoted(realm)}`, `error=${quoted(error.code)}`, `error_description=${quoted(error.message)}`];
  for (const [key, value] of Object.entries(error.challenge)) params.push(`${key}=${quoted(value)}`);
  return `${error.scheme} ${params.join(", ")}`;
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string; scope?: string; "violated-policies"?: readonly string[] };
}

/** The response for any error; an unexpected one becomes a plain 500 with no detail. */
export function errorResponse(realm: string, error: unknown): ErrorResponse {
  if (!(error instanceof GatewayError)) {
    return { status: 500, headers: { "cache-control": "no-store" }, body: { error: "server_error", error_description: "the gateway failed to handle the request" } };
  }
  const headers: Record<string, string> = { "cache-control": "no-store", ...error.headers };
  const challenge = wwwAuthenticate(realm, error);
  if (challenge) headers["www-authenticate"] = challenge;
  const body: ErrorResponse["body"] = { error: error.code, error_description: error.message };
  if (error.challenge.scope) body.scope = error.challenge.scope;
  if (error instanceof TooManyRequests) body["violated-policies"] = error.violated;
  return { status: error.status, headers, body };
}
