// Request ids: every request to either server has one, taken from the caller's X-Request-Id when it is
// well formed (so a request keeps its id across a load balancer, the gateway and the backend), otherwise
// generated. Each server returns it in X-Request-Id and writes it in the request's access log line; the
// gateway also sends it to the backend.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * Well formed: 1 to 128 characters among letters, digits and . _ : + / = - (a UUID, a hex or base64 id,
 * a trace id). Nothing that could split a log line or a header list: no space, comma, quote or control
 * character. Two X-Request-Id headers arrive joined by ", " and so are not well formed either.
 */
const WELL_FORMED = /^[A-Za-z0-9._:+/=-]{1,128}$/;

export function isWellFormedRequestId(value: unknown): value is string {
  return typeof value === "string" && value.length <= 128 && WELL_FORMED.test(value);
}

/** A new request id: a random UUID (crypto's pooled randomness: no system call per id). */
export function newRequestId(): string {
  return randomUUID();
}

/** The caller's X-Request-Id when well formed, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return isWellFormedRequestId(given) ? given : randomUUID();
}
