// Every way the gateway refuses a request: one class per outcome, each carrying its status, the
// RFC 6750 error code where there is one, and a reason id for the decision log. One handler
// (pipeline.ts) turns them into the response.
export class GatewayError extends Error {
  readonly status: number;
  /** RFC 6749/6750 error code for the JSON body and the WWW-Authenticate challenge. */
  readonly code: string;
  /** Stable id of why access was refused, for logs and metrics (e.g. "token_expired"). */
  readonly reason: string;
  /** Extra WWW-Authenticate parameters (e.g. scope). */
  readonly challenge: Record<string, string>;
  /** Extra response headers (e.g. Allow). */
  readonly headers: Record<string, string>;
  /** Answered with an RFC 6750 Bearer challenge (WWW-Authenticate): the refusals of the token itself. */
  readonly bearer: boolean;
  /** The challenge's auth-scheme: Bearer (RFC 6750 §3), or DPoP (RFC 9449 §7.1) for a DPoP request or API. */
  readonly scheme: "Bearer" | "DPoP" = "Bearer";

  constructor(status: number, code: string, description: string, reason: string, challenge: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(description);
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.challenge = challenge;
    this.headers = headers;
    this.bearer = status === 401 || status === 403;
  }
}

/** 401: the token is missing, malformed, expired, revoked, or not for this API. */
export class InvalidToken extends GatewayError {
  constructor(description: string, reason: string) {
    super(401, "invalid_token", description, reason);
  }
}

/** 401: no credentials at all. The challenge still names invalid_token, as the issue asks (RFC 6750 §3.1 allows omitting it). */
export class MissingToken extends InvalidToken {
  constructor() {
    super("an access token is required", "token_missing");
  }
}

/**
 * 401 with a DPoP challenge (RFC 9449 §7.1): `DPoP error="invalid_dpop_proof"` for a missing or bad proof,
 * `error="invalid_token"` for a bad token sent with the DPoP scheme, a DPoP-bound token sent as Bearer or
 * a plain bearer token at an API that requires DPoP; `error="use_dpop_nonce"` with a DPoP-Nonce header
 * where the API requires the gateway's nonces (§9). The challenge's algs lists the proof algorithms
 * accepted.
 */
export class DpopRefused extends GatewayError {
  override readonly scheme = "DPoP";

  constructor(code: "invalid_dpop_proof" | "invalid_token" | "use_dpop_nonce", description: string, reason: string, algs: readonly string[], headers: Record<string, string> = {}) {
    super(401, code, description, reason, { algs: algs.join(" ") }, headers);
  }
}

/** 400: the request itself is malformed (e.g. two tokens, an encoded slash in the path). */
export class InvalidRequest extends GatewayError {
  constructor(description: string, reason: string) {
    super(400, "invalid_request", description, reason);
  }
}

/** 403: the token is good but lacks the scopes the route demands. */
export class InsufficientScope extends GatewayError {
  constructor(required: string[]) {
    super(403, "insufficient_scope", "the access token does not carry the scopes this request needs", "insufficient_scope", { scope: required.join(" ") });
  }
}

/**
 * 429: a rate limit policy's limit is used up. Retry-After says when the next request fits; the
 * RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers) come from the policy.
 */
export class TooManyRequests extends GatewayError {
  /** The limits used up, by name (the draft's "violated-policies"). */
  readonly violated: readonly string[];

  constructor(violated: readonly string[], retryAfterSeconds: number) {
    super(429, "too_many_requests", `rate limit ${violated.join(", ")} exceeded: retry after ${retryAfterSeconds} s`, "rate_limited", {}, { "retry-after": String(retryAfterSeconds) });
    this.violated = violated;
  }
}

/** 403: a CORS preflight the API's cors policy does not allow (origin, method or headers); answered without CORS headers. */
export class CorsRefused extends GatewayError {
  override readonly bearer = false;

  constructor(description: string, reason: "cors_origin" | "cors_method" | "cors_headers") {
    super(403, "cors_refused", description, reason);
  }
}

export class NoRoute extends GatewayError {
  constructor() {
    super(404, "not_found", "no route matches this request", "no_route");
  }
}

/** 405: routes own the path but none accepts the method (RFC 9110 §15.5.6: Allow lists those that would be). */
export class MethodNotAllowed extends GatewayError {
  constructor(allow: readonly string[]) {
    super(405, "method_not_allowed", "the route does not accept this method", "method_not_allowed", {}, { allow: allow.join(", ") });
  }
}

export class PayloadTooLarge extends GatewayError {
  constructor(limit: number) {
    super(413, "payload_too_large", `the request body exceeds ${limit} bytes`, "body_too_large");
  }
}

/** 503: a connection over its source address's limit (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS), answered before any request. */
export class TooManyConnections extends GatewayError {
  constructor() {
    super(503, "temporarily_unavailable", "too many connections from this address", "connection_limit", {}, { "retry-after": "1" });
  }
}

export class BadGateway extends GatewayError {
  constructor(description: string, reason: string) {
    super(502, "bad_gateway", description, reason);
  }
}

export class GatewayTimeout extends GatewayError {
  constructor(description = "the upstream did not answer in time") {
    super(504, "gateway_timeout", description, "upstream_timeout");
  }
}
