// Which headers cross the gateway: hop-by-hop headers (RFC 9110 §7.6.1) stay on their own
// connection, X-Forwarded-* tell the upstream who called, and the route's own additions and
// removals come last.
import type { IncomingHttpHeaders } from "node:http";

/** Headers that describe one connection, never the message (plus the non-standard Proxy-Connection). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

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
function connectionTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) tokens.push(name);
  }
  return tokens;
}

/** Whether a header name is among the (case-insensitive) names listed. */
function listed(names: string[], name: string): boolean {
  for (const entry of names) if (entry === name || entry.toLowerCase() === name) return true;
  return false;
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
  const upgrade = context.upgrade;
  const tokens = incoming.connection ? connectionTokens(incoming.connection) : undefined;
  const remove = context.removeHeaders;
  const headers: IncomingHttpHeaders = {};
  // One pass: hop-by-hop (Transfer-Encoding, and Upgrade for a WebSocket, excepted), the names
  // Connection lists, Expect and the target's removals stay behind.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name)) {
      if (name !== "transfer-encoding" && !(upgrade && name === "upgrade")) continue;
    } else if (name === "expect" || (tokens !== undefined && tokens.includes(name))) continue;
    if (remove.length !== 0 && listed(remove, name)) continue;
    headers[name] = value;
  }
  if (upgrade && !listed(remove, "connection")) headers.connection = "Upgrade";

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
  const tokens = incoming.connection ? connectionTokens(incoming.connection) : undefined;
  const names = Object.keys(incoming);
  // Most responses carry Connection and Keep-Alive; the rare one without anything to drop is passed as is.
  let clean = true;
  for (const name of names) {
    if (dropsFromResponse(name, incoming[name], tokens, upgrade)) {
      clean = false;
      break;
    }
  }
  if (clean) return incoming;
  const headers: IncomingHttpHeaders = {};
  for (const name of names) {
    const value = incoming[name];
    if (!dropsFromResponse(name, value, tokens, upgrade)) headers[name] = value;
  }
  return headers;
}

function dropsFromResponse(name: string, value: unknown, tokens: string[] | undefined, upgrade: boolean): boolean {
  if (value === undefined) return true;
  if (upgrade && (name === "connection" || name === "upgrade")) return false;
  return HOP_BY_HOP.has(name) || (tokens !== undefined && tokens.includes(name));
}
