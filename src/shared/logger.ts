// One-line JSON logs: debug and info on stdout, warn and error on stderr (everything on stderr for the
// CLI, whose stdout is its result). Never pass a token or a secret here: log a short hash (tokenHash).
//
// An outage makes every request fail the same way: a warning or error identical to one written less
// than REPEAT_WINDOW_MS ago (same level, message and fields, whatever request it was about) is counted
// instead of written, and the count follows in one line when the window ends.
import crypto from "node:crypto";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;
type WrittenLevel = Exclude<LogLevel, "silent">;

/** Milliseconds during which identical warnings and errors are counted rather than written. */
export const REPEAT_WINDOW_MS = 10_000;
/** Fields that say which request a line is about, not what went wrong: ignored when comparing lines. */
const REQUEST_FIELDS = new Set(["path", "method", "interaction", "ip", "address"]);

let threshold: number = LEVELS[(process.env.LOG_LEVEL as LogLevel) ?? "info"] ?? LEVELS.info;
let everythingToStderr = false;

export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

/** Sends every line to stderr (the CLI: its stdout carries only the command's result). */
export function logToStderr(): void {
  everythingToStderr = true;
}

function emit(level: WrittenLevel, msg: string, fields?: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  (everythingToStderr || level === "error" || level === "warn" ? process.stderr : process.stdout).write(line + "\n");
}

interface Repeats {
  count: number;
  timer: NodeJS.Timeout;
}
const repeating = new Map<string, Repeats>();

function write(level: WrittenLevel, msg: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < threshold) return;
  if (level !== "warn" && level !== "error") return emit(level, msg, fields);
  const key = `${level}\0${msg}\0${JSON.stringify(Object.entries(fields ?? {}).filter(([name]) => !REQUEST_FIELDS.has(name)))}`;
  const seen = repeating.get(key);
  if (seen) {
    seen.count++;
    return;
  }
  emit(level, msg, fields);
  const timer = setTimeout(() => {
    const { count } = repeating.get(key)!;
    repeating.delete(key);
    if (count > 0) emit(level, msg, { ...fields, repeated: count, repeatedWithinMs: REPEAT_WINDOW_MS });
  }, REPEAT_WINDOW_MS);
  timer.unref();
  repeating.set(key, { count: 0, timer });
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write("error", msg, fields),
};

/**
 * A security event: one structured line with a stable event id (e.g. "client_authentication_failed",
 * "refresh_token_reuse", "grant_revoked", "login_throttled", "signing_key_rotated"), and whatever
 * identifies who and what: client_id, user id, source address, a token's hash. Never a secret or a token.
 */
export function securityEvent(event: string, fields: Record<string, unknown> = {}): void {
  write("info", "security event", { event, ...fields });
}

/** A short, non-reversible identifier for a token or secret, safe to log. */
export function tokenHash(value: string): string {
  return crypto.createHash("sha256").update(value).digest("base64url").slice(0, 12);
}
