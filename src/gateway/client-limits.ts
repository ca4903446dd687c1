// What a client may hold of the gateway: how long it may take to send its headers and its whole
// request, how long an idle keep-alive connection stays open, and how many connections one source
// address may have open at once. Without these, one slow client (a header byte per second, a body
// dribbling in) or one address opening connections by the thousand holds the gateway's sockets.
import type http from "node:http";
import type { Socket } from "node:net";
import { log } from "../shared/logger.ts";
import { TooManyConnections } from "./errors.ts";
import { errorBody, writeSocketError } from "./forward/forwarder.ts";

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

/** Options for http.createServer. Throws when the headers may take longer than the whole request. */
export function timeoutOptions(limits: ClientLimits): http.ServerOptions {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError("GATEWAY_HEADERS_TIMEOUT_MS must not be greater than GATEWAY_REQUEST_TIMEOUT_MS");
  }
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks both timeouts on this interval (default 30 s, which would let a 10 s limit run to 40 s).
    connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4)),
  };
}

/** Applies the limits that are set on a server already created with timeoutOptions(). */
export function applyClientLimits(server: http.Server, limits: ClientLimits): void {
  server.keepAliveTimeout = limits.idleTimeoutMs;
  const max = limits.maxConnectionsPerAddress;
  if (max === 0) return;
  // Counted on "connection" and "close": no per-request work.
  const open = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "";
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      const refusal = new TooManyConnections();
      log.info("gateway refused", { status: refusal.status, reason: refusal.reason, stage: "connect", address });
      writeSocketError(socket, refusal.status, refusal.headers, errorBody(refusal));
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
