// What a client may hold of one of Gatehouse's HTTP servers (the authorization server and the gateway
// alike): how long it may take to send its headers and its whole request, how long an idle keep-alive
// connection stays open, and how many connections one source address may have open at once. Without
// these, one slow client (a header byte per second, a body dribbling in) or one address opening
// connections by the thousand holds the server's sockets, and with them the process's file descriptors.
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type Server, type ServerOptions } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

export interface ClientLimits {
  /** Longest time for the request line and headers, in ms; then 408 (Node answers it). */
  headersTimeoutMs: number;
  /** Longest time for the whole request, body included, in ms; then 408, or the connection is cut once a response has begun. */
  requestTimeoutMs: number;
  /**
   * How long a keep-alive connection may sit idle between requests, in ms; then it is closed. Node
   * advertises it in Keep-Alive: timeout=… and closes a second later (keepAliveTimeoutBuffer), so the
   * client is the one to close first.
   */
  idleTimeoutMs: number;
  /** Most connections open at once from one socket peer address (behind TRUST_PROXY: the proxy's); 0: no limit. */
  maxConnectionsPerAddress: number;
}

/** The settings the limits come from, for the error messages. */
export interface ClientLimitSettings {
  headersTimeout: string;
  requestTimeout: string;
}

/** Options for http.createServer. Throws when the headers may take longer than the whole request. */
export function timeoutOptions(limits: ClientLimits, settings: ClientLimitSettings): ServerOptions {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`${settings.headersTimeout} must not be greater than ${settings.requestTimeout}`);
  }
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both timeouts on this interval (default 30 s, which would let a 10 s limit run to 40 s).
    connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4)),
  };
}

/**
 * Applies the limits that are set on a server already created with timeoutOptions(). A connection over
 * its address's limit is handed to refuse (which answers it, say with writeSocketResponse, and logs)
 * before any request is read, and counts for nothing.
 */
export function applyClientLimits(server: Server, limits: ClientLimits, refuse: (socket: Socket, address: string) => void): void {
  server.keepAliveTimeout = limits.idleTimeoutMs;
  const max = limits.maxConnectionsPerAddress;
  if (max === 0) return;
  // Counted on "connection" and "close": no per-request work.
  const open = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      refuse(socket, address);
      return;
    }
    open.set(address, count);
    socket.once("close", () => {
      const left = open.get(address)! - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * A complete HTTP response written straight onto a socket, then closed: for a connection refused before
 * any request (the per-address limit) and for an upgrade request, which has no ServerResponse.
 */
export function writeSocketResponse(socket: Duplex, status: number, headers: Record<string, string>, body: object): void {
  const payload = JSON.stringify(body);
  const fields = new Map<string, string>([["cache-control", "no-store"]]);
  for (const [name, value] of Object.entries(headers)) fields.set(name.toLowerCase(), value);
  fields.set("content-type", "application/json");
  fields.set("content-length", String(Buffer.byteLength(payload)));
  fields.set("connection", "close");
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
  for (const [name, value] of fields) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    lines.push(`${name}: ${value}`);
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`${lines.join("\r\n")}\r\n\r\n${payload}`, () => socket.destroy());
}
