// One-line JSON logs, written by pino: debug and info on stdout, warn and error on stderr (everything on
// stderr for the CLI, whose stdout is its result). Each line is {"level","time","msg", ...fields}.
// Never pass a token or a secret here: log a short hash (tokenHash). Should one slip through anyway,
// the redaction below, configured once for every line, replaces it: any field named like a credential
// (REDACTED_FIELDS, at any depth), and credentials inside text (an Authorization value, a JWT, a
// `client_secret=…` pair).
//
// An outage makes every request fail the same way: a warning or error identical to one written less
// than REPEAT_WINDOW_MS ago (same level, message and fields, whatever request it was about) is counted
// instead of written, and the count follows in one line when the window ends.
import crypto from "node:crypto";
import { pino, type Logger } from "pino";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;
type WrittenLevel = Exclude<LogLevel, "silent">;

/** Milliseconds during which identical warnings and errors are counted rather than written. */
export const REPEAT_WINDOW_MS = 10_000;
/** Fields that say which request a line is about, not what went wrong: ignored when comparing lines. */
const REQUEST_FIELDS = new Set(["path", "method", "interaction", "ip", "address", "request_id"]);

/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

/**
 * Fields whose value is a credential, in the spellings that occur (HTTP header names in lower case, OAuth
 * parameters, camelCase properties): replaced by REDACTED wherever they appear in a line's fields.
 */
export const REDACTED_FIELDS: ReadonlySet<string> = new Set([
  "authorization", "Authorization", "proxy-authorization", "cookie", "Cookie", "set-cookie", "Set-Cookie",
  "x-api-key", "apiKey", "api_key",
  "password", "new_password", "current_password", "newPassword", "currentPassword",
  "secret", "client_secret", "clientSecret", "clientSecretSealed", "client_assertion", "clientAssertion", "assertion", "SAMLResponse",
  "access_token", "accessToken", "refresh_token", "refreshToken", "id_token", "idToken", "logout_token",
  "subject_token", "actor_token", "device_code", "user_code", "code_verifier", "codeVerifier",
  "private_key", "privateKey", "keyEncryptionSecret", "cookieKeys",
  "token", "grant",
]);
/** Fields that may carry a tokenHash (and nothing else): such a value is kept, anything else redacted. */
const HASH_FIELDS = new Set(["token", "grant"]);
const TOKEN_HASH = /^[A-Za-z0-9_-]{12}$/;

/**
 * Credentials inside text: an Authorization value (a scheme and a credential with at least one
 * non-letter, so "basic authentication" stays), a JWT or other JOSE compact serialization, a credential
 * parameter in a query or form string, or a credential member of a JSON text.
 */
const CREDENTIAL_IN_TEXT = new RegExp(
  [
    String.raw`\b(Bearer|Basic|DPoP|Digest|Negotiate)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}`,
    String.raw`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}[A-Za-z0-9._-]*`,
    String.raw`\b(access_token|refresh_token|id_token|logout_token|subject_token|actor_token|client_secret|client_assertion|assertion|password|new_password|code_verifier|device_code|token|SAMLResponse)=[^&\s"';,]+`,
    String.raw`"(access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|secret|token)"\s*:\s*"[^"]*"`,
  ].join("|"),
  "gi",
);

function scrubText(text: string): string {
  CREDENTIAL_IN_TEXT.lastIndex = 0;
  if (!CREDENTIAL_IN_TEXT.test(text)) return text;
  CREDENTIAL_IN_TEXT.lastIndex = 0;
  return text.replace(CREDENTIAL_IN_TEXT, (_match, scheme?: string, parameter?: string, member?: string) => {
    if (scheme) return `${scheme} ${REDACTED}`;
    if (parameter) return `${parameter}=${REDACTED}`;
    if (member) return `"${member}":"${REDACTED}"`;
    return REDACTED;
  });
}

function censor(field: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (HASH_FIELDS.has(field) && typeof value === "string" && TOKEN_HASH.test(value)) return value;
  return REDACTED;
}

/** value with every credential replaced; the same object when there was none (no copy on the common path). */
function redact(value: unknown, depth: number): unknown {
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object" || depth > 4) return value;
  if (value instanceof Error) return { type: value.name, message: scrubText(value.message), stack: value.stack && scrubText(value.stack) };
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const cleaned = redact(value[i], depth + 1);
      if (cleaned !== value[i]) (copy ??= value.slice())[i] = cleaned;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  const record = value as Record<string, unknown>;
  for (const field in record) {
    const original = record[field];
    const cleaned = REDACTED_FIELDS.has(field) ? censor(field, original) : redact(original, depth + 1);
    if (cleaned !== original) (copy ??= { ...record })[field] = cleaned;
  }
  return copy ?? value;
}

/** Every line's fields with credentials replaced (exported for tests). */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redact(fields, 0) as Record<string, unknown>;
}

function createLogger(fd: 1 | 2): Logger {
  return pino(
    {
      level: "debug",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redactFields(fields),
      },
    },
    // Through process.stdout and process.stderr (synchronous on Linux for files and pipes): no line is lost
    // at exit, lines stay in order with what is written there directly (the first admin's generated
    // password), and whoever replaces process.stdout.write (a test capturing the logs) gets them.
    { write: (line: string) => void (fd === 1 ? process.stdout : process.stderr).write(line) },
  );
}

const stdout = createLogger(1);
const stderr = createLogger(2);

let threshold: number = LEVELS[(process.env.LOG_LEVEL as LogLevel) ?? "info"] ?? LEVELS.info;
let everythingToStderr = false;

export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

/** Whether lines of this level are written at all (to skip building fields nobody will read). */
export function logsAt(level: WrittenLevel): boolean {
  return LEVELS[level] >= threshold;
}

/** Sends every line to stderr (the CLI: its stdout carries only the command's result). */
export function logToStderr(): void {
  everythingToStderr = true;
}

function emit(level: WrittenLevel, msg: string, fields?: Record<string, unknown>): void {
  // msg first among the fields, so a line reads {"level","time","msg",...fields}.
  (everythingToStderr || level === "error" || level === "warn" ? stderr : stdout)[level]({ msg, ...fields });
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
