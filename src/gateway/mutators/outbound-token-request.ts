// One token request of the gateway's: client credentials (RFC 6749 §4.4) at an external identity
// provider, or token exchange (RFC 8693) at Gatehouse's own token endpoint. Failures carry a short
// detail for the log that never contains the secret or a token.

export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** "basic": HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1); "body": client_id/client_secret parameters. */
  authMethod: "basic" | "body";
  scope: string | null;
  /** Azure AD v1 style target of the token. */
  resource: string | null;
}

export interface TokenResponse {
  accessToken: string;
  /** Seconds, when the identity provider said. */
  expiresIn: number | undefined;
}

export class TokenRequestFailed extends Error {}

/** application/x-www-form-urlencoded encoding of one value (spaces as "+"), as §2.3.1 requires before Basic. */
function formEncode(value: string): string {
  return new URLSearchParams([["", value]]).toString().slice(1);
}

function expiresIn(value: unknown): number | undefined {
  const seconds = typeof value === "string" ? Number(value) : value;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/**
 * Sends one token request and reads its access token.
 * @param grant the grant's parameters (grant_type first); default client credentials
 * @param timeoutMs limit for the whole exchange, reading the response included
 * @throws TokenRequestFailed with a short detail (status and error code, or the network failure's code)
 */
export async function requestToken(request: TokenRequest, timeoutMs: number, grant: Record<string, string> = { grant_type: "client_credentials" }): Promise<TokenResponse> {
  const body = new URLSearchParams(grant);
  if (request.scope) body.set("scope", request.scope);
  if (request.resource) body.set("resource", request.resource);
  const headers: Record<string, string> = { accept: "application/json", "content-type": "application/x-www-form-urlencoded" };
  if (request.authMethod === "basic") {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(request.clientId)}:${formEncode(request.clientSecret)}`).toString("base64")}`;
  } else {
    body.set("client_id", request.clientId);
    body.set("client_secret", request.clientSecret);
  }

  let status: number;
  let text: string;
  try {
    // The signal bounds reading the body too; a redirect would carry the credentials elsewhere.
    const response = await fetch(request.tokenUrl, { method: "POST", headers, body, redirect: "error", signal: AbortSignal.timeout(timeoutMs) });
    status = response.status;
    text = await response.text();
  } catch (error) {
    // Only the error's name or code: a message may quote the URL, and the URL may carry credentials.
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new TokenRequestFailed((error as Error).name === "TimeoutError" ? "timeout" : (cause?.code ?? (error as Error).name));
  }

  let json: { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = undefined;
  }
  if (status < 200 || status > 299) {
    const code = typeof json?.error === "string" ? ` (${json.error.slice(0, 64)})` : "";
    throw new TokenRequestFailed(`status ${status}${code}`);
  }
  if (!json || typeof json !== "object") throw new TokenRequestFailed("response is not a JSON object");
  if (typeof json.access_token !== "string" || !json.access_token) throw new TokenRequestFailed("response has no access_token");
  return { accessToken: json.access_token, expiresIn: expiresIn(json.expires_in) };
}
