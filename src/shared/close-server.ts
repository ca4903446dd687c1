// Graceful stop of an HTTP server (SIGTERM, a rolling deploy): no new connections, requests in flight
// finish, and then each kept-alive connection is closed as soon as it is idle. Node's server.close()
// alone closes only the connections idle at that moment: one that was busy stays open once its response
// is sent, takes further requests from its client, and holds the stop until the hard limit.
import type { Server } from "node:http";

/** How often connections that went idle since the stop began are closed, in milliseconds. */
const SWEEP_MS = 25;

export interface CloseOptions {
  /** Milliseconds after which every connection still open is cut (default 10,000). */
  hardLimitMs?: number;
  /**
   * Called at the hard limit, for what the HTTP server does not track: connections upgraded to
   * WebSockets hold server.close() open until their owner ends them.
   */
  atHardLimit?: () => void;
}

/**
 * Stops `server` accepting connections; requests that arrive on a kept-alive connection meanwhile are
 * answered with `Connection: close`; idle keep-alive connections are closed at once and as they become
 * idle; whatever is still open at the hard limit is cut. Resolves when the server has closed (never rejects).
 */
export function closeGracefully(server: Server, { hardLimitMs = 10_000, atHardLimit }: CloseOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    server.prependListener("request", (_request, response) => {
      if (!response.headersSent) response.setHeader("Connection", "close");
    });
    const sweep = setInterval(() => server.closeIdleConnections(), SWEEP_MS);
    const cut = setTimeout(() => {
      server.closeAllConnections();
      atHardLimit?.();
    }, hardLimitMs);
    cut.unref();
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
