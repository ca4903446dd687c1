// Recognises "the database cannot be reached right now", so callers answer 503 instead of 500.
const UNAVAILABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection terminated|connection timeout|Can't reach database|SQLITE_BUSY|database is locked|P1001|P1002|P1017|P2024|the database system is (shutting down|starting up)|terminating connection/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const { message, code, cause } = e as { message?: unknown; code?: unknown; cause?: unknown };
    if (UNAVAILABLE.test(String(message ?? "")) || UNAVAILABLE.test(String(code ?? ""))) return true;
    if (cause && typeof cause === "object" && "originalMessage" in cause && UNAVAILABLE.test(String(cause.originalMessage))) return true;
    e = cause;
  }
  return false;
}
