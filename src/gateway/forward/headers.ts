// Which headers cross the gateway: hop-by-hop headers (RFC 9110 §7.6.1) stay on their own
// connection, X-Forwarded-* tell the upstream who called, and the route's own additions and
// removals come last.
import type { IncomingHttpHeaders } from "node:http";

/** Headers that describe one connection, never the message (plus the non-standard Proxy-Connection). */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/** What the upstream request is built from, besides the client's headers. */
export interface UpstreamHeaderContext {
  /** Host header for the upstream (its own host, so virtual hosts and TLS names match). */
  host: string;
  remoteAddress: string | undefined;
  encrypted: boolean;
  /** Keep the Upgrade handshake headers (WebSocket). */
  upgrade: boolean;
  /** Keep X-Forwarded-Proto/-Host set by a trusted proxy in front of the gateway. */
  trustProxy: boolean;
  removeHeaders: string[];
  setHeaders: Record<string, string>;
}

/** The names the Connection header lists, which are hop-by-hop too. */
function connectionTokens(headers: IncomingHttpHeaders): string[] {
  const value = headers.connection;
  if (!value) return [];
  return value.split(",").map((token) => token.trim().toLowerCase()).filter(Boolean);
}

function withoutHopByHop(headers: IncomingHttpHeaders, keep: string[]): IncomingHttpHeaders {
  const drop = new Set([...HOP_BY_HOP, ...connectionTokens(headers)]);
  for (const name of keep) drop.delete(name);
  const result: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name)) result[name] = value;
  }
  return result;
}

function appendList(existing: string | string[] | undefined, value: string): string {
  const previous = Array.isArray(existing) ? existing.join(", ") : existing;
  return previous ? `${previous}, ${value}` : value;
}

/**
 * The headers the upstream receives. Transfer-Encoding is kept so Node frames the streamed body
 * the way the client did; Expect is dropped because the gateway has already answered it.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, context: UpstreamHeaderContext): IncomingHttpHeaders {
  const headers = withoutHopByHop(incoming, context.upgrade ? ["transfer-encoding", "upgrade"] : ["transfer-encoding"]);
  delete headers.expect;
  if (context.upgrade) headers.connection = "Upgrade";
  for (const name of context.removeHeaders) delete headers[name.toLowerCase()];

  if (context.remoteAddress) headers["x-forwarded-for"] = appendList(headers["x-forwarded-for"], context.remoteAddress);
  if (!context.trustProxy || !headers["x-forwarded-proto"]) headers["x-forwarded-proto"] = context.encrypted ? "https" : "http";
  if (!context.trustProxy || !headers["x-forwarded-host"]) {
    if (incoming.host) headers["x-forwarded-host"] = incoming.host;
    else delete headers["x-forwarded-host"];
  }
  headers.host = context.host;

  for (const [name, value] of Object.entries(context.setHeaders)) headers[name.toLowerCase()] = value;
  return headers;
}

/**
 * The upstream's response headers as the client receives them. Node adds its own Connection and
 * framing; a 101 keeps Connection and Upgrade, which complete the handshake.
 */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders, upgrade = false): IncomingHttpHeaders {
  return withoutHopByHop(incoming, upgrade ? ["connection", "upgrade"] : []);
}
