// Recognises "the database cannot be reached right now", so callers answer 503 instead of 500.
// Refused, reset or dropped connections; connect and query timeouts (DB_CONNECT_TIMEOUT_MS, DB_QUERY_TIMEOUT_MS,
// statement_timeout is SQLSTATE 57014); a busy SQLite file; a server shutting down or starting; and the same
// failures as a Prisma driver adapter names them (its DriverAdapterError's message is the kind) when a
// statement ran on the adapter directly (direct-sql.ts).
const UNAVAILABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|statement timeout|57014|Can't reach database|SQLITE_BUSY|database is locked|P1001|P1002|P1008|P1017|P2024|the database system is (shutting down|starting up)|terminating connection|^(DatabaseNotReachable|ConnectionClosed|SocketTimeout)$/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { message, code, cause } = e as { message?: unknown; code?: unknown; cause?: unknown };
    if (UNAVAILABLE.test(String(message ?? "")) || UNAVAILABLE.test(String(code ?? ""))) return true;
    if (cause && typeof cause === "object" && "originalMessage" in cause && UNAVAILABLE.test(String(cause.originalMessage))) return true;
    e = cause;
  }
  return false;
}
