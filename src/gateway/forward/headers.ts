// Which headers cross the gateway: hop-by-hop headers (RFC 9110 §7.6.1) stay on their own
// connection, the gateway's own forwarding headers replace the client's, method overrides never
// pass, the headers the gateway reads pass under their own spelling only, and the route's own
// additions and removals come last. Every name is compared by headerKey(), so no spelling a backend
// reads as the same header ("X_Forwarded_For", "X.Forwarded.For") slips through.
import type { IncomingHttpHeaders } from "node:http";
import { GATEWAY_READ_HEADERS, headerKey, isForwardingHeader } from "../../shared/header-names.ts";
import { REQUEST_OVERRIDE_HEADERS } from "../rules/method-override.ts";
import { setForwardingHeaders, type Arrival } from "./forwarded.ts";

/** Headers that describe one connection, never the message (plus the non-standard Proxy-Connection). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Headers only the gateway writes (besides the forwarding headers): a client's copy never passes, whatever the route. */
const GATEWAY_WRITTEN = new Set(["expect", ...REQUEST_OVERRIDE_HEADERS]);

/** Headers the gateway reads: any other spelling of them is dropped, so the backend reads what the gateway read. */
const GATEWAY_READ = new Set(GATEWAY_READ_HEADERS);

/** What the upstream request is built from, besides the client's headers. */
export interface UpstreamHeaderContext extends Arrival {
  /** Host header for the upstream (its own host, so virtual hosts and TLS names match). */
  upstreamHost: string;
  /** Keep the Upgrade handshake headers (WebSocket). */
  upgrade: boolean;
  /** headerKey() names of client headers not to forward. */
  removeHeaders: ReadonlySet<string>;
  setHeaders: Record<string, string>;
}

/** The names the Connection header lists, which are hop-by-hop too. */
function connectionTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const token of value.split(",")) {
    const name = headerKey(token.trim());
    if (name) tokens.push(name);
  }
  return tokens;
}

/**
 * The headers the upstream receives. Transfer-Encoding is kept (under its own spelling only) so
 * Node frames the streamed body the way the client did; Expect is dropped because the gateway has
 * already answered it.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, context: UpstreamHeaderContext): IncomingHttpHeaders {
  const upgrade = context.upgrade;
  const tokens = incoming.connection ? connectionTokens(incoming.connection) : undefined;
  const remove = context.removeHeaders;
  const headers: IncomingHttpHeaders = {};
  // One pass: hop-by-hop (Transfer-Encoding, and Upgrade for a WebSocket, excepted), the names
  // Connection lists, what only the gateway writes, other spellings of what it reads and the
  // target's removals stay behind.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined) continue;
    const key = headerKey(name);
    if (HOP_BY_HOP.has(key)) {
      if (name !== "transfer-encoding" && !(upgrade && name === "upgrade")) continue;
    } else if (GATEWAY_READ.has(key) ? name.toLowerCase() !== key : GATEWAY_WRITTEN.has(key) || isForwardingHeader(key)) continue;
    else if (remove.has(key) || (tokens !== undefined && tokens.includes(key))) continue;
    headers[name] = value;
  }
  if (upgrade && !remove.has("connection")) headers.connection = "Upgrade";

  setForwardingHeaders(headers, incoming, context);
  headers.host = context.upstreamHost;

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
  return HOP_BY_HOP.has(name) || (tokens !== undefined && tokens.includes(headerKey(name)));
}
