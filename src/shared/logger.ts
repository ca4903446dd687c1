// One-line JSON logs, written by pino: debug and info on stdout, warn and error on stderr (everything on
// stderr for the CLI, whose stdout is its result). Each line is {"level","time","msg", ...fields}.
// Never pass a token or a secret here: log a short hash (tokenHash). Should one slip through anyway,
// the redaction below, configured once for every line, replaces it: any field named like a credential
// (REDACTED_FIELDS, in any case with - and _ alike, at any depth: a subtree nested deeper than MAX_DEPTH
// is replaced whole, a cycle cut), and credentials inside text (an Authorization value, a JWT, a
// `client_secret=…` pair, URL-encoded or not, a credential member of a JSON text).
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

/** A field name as compared: lower case, without - and _ (so Password, X-Api-Key, client-secret, clientSecret match). */
function normalizedName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}
const NORMALIZED_FIELDS: ReadonlySet<string> = new Set([...REDACTED_FIELDS].map(normalizedName));
const NORMALIZED_HASH_FIELDS: ReadonlySet<string> = new Set([...HASH_FIELDS].map(normalizedName));
/** Field name -> its normalized name when it names a credential, else "" (the names logged are few: cached). */
const fieldKinds = new Map<string, string>();
function credentialField(field: string): string {
  let kind = fieldKinds.get(field);
  if (kind === undefined) {
    const normalized = normalizedName(field);
    kind = NORMALIZED_FIELDS.has(normalized) ? normalized : "";
    if (fieldKinds.size >= 4096) fieldKinds.clear();
    fieldKinds.set(field, kind);
  }
  return kind;
}

/** Every REDACTED_FIELDS name as a pattern matching it in any case with - and _ anywhere or nowhere. */
const CREDENTIAL_NAMES = [...NORMALIZED_FIELDS]
  .sort((a, b) => b.length - a.length)
  .map((name) => [...name].join("[-_]?"))
  .join("|");
/** Words that follow a scheme's name in prose ("basic authentication"): not credentials. */
const PROSE_AFTER_SCHEME = [
  "authentication", "authorization", "authorisation", "credentials?", "challenges?", "headers?", "schemes?",
  "tokens?", "access", "required", "expected", "missing", "invalid", "malformed", "format", "string", "values?",
  "algorithms?", "responses?", "requests?", "failed", "supported", "allowed", "without", "params", "parameters?",
  "realm", "proofs?", "binding", "nonce", "passwords?", "method", "support",
].join("|");

/**
 * Credentials inside text: an Authorization value (a scheme, whitespace or its URL encoding, and a
 * credential of 6 or more characters that is not a word of prose, so "basic authentication" stays), a
 * JWT or other JOSE compact serialization, a credential parameter (any REDACTED_FIELDS name) in a query
 * or form string, URL-encoded or not, or a credential member of a JSON text (escaped quotes included, and
 * an unterminated string to the end of the text).
 */
const CREDENTIAL_IN_TEXT = new RegExp(
  [
    String.raw`(?<![A-Za-z])(?<scheme>Bearer|Basic|DPoP|Digest|Negotiate)(?<space>\s+|%20|\+)(?!(?:${PROSE_AFTER_SCHEME})\b)[A-Za-z0-9._~+/=%-]{6,}`,
    String.raw`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}[A-Za-z0-9._-]*`,
    String.raw`(?<![A-Za-z0-9])(?<parameter>${CREDENTIAL_NAMES})(?<equals>=|%3D)(?:(?!%26)[^&\s"';,])+`,
    String.raw`"(?<member>${CREDENTIAL_NAMES})"\s*:\s*"(?:[^"\\]|\\.)*"?`,
  ].join("|"),
  "gi",
);

interface CredentialGroups {
  scheme?: string;
  space?: string;
  parameter?: string;
  equals?: string;
  member?: string;
}

function scrubText(text: string): string {
  CREDENTIAL_IN_TEXT.lastIndex = 0;
  if (!CREDENTIAL_IN_TEXT.test(text)) return text;
  CREDENTIAL_IN_TEXT.lastIndex = 0;
  return text.replace(CREDENTIAL_IN_TEXT, (...args: unknown[]) => {
    const { scheme, space, parameter, equals, member } = args[args.length - 1] as CredentialGroups;
    if (scheme) return `${scheme}${space}${REDACTED}`;
    if (parameter) return `${parameter}${equals}${REDACTED}`;
    if (member) return `"${member}":"${REDACTED}"`;
    return REDACTED;
  });
}

function censor(kind: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (NORMALIZED_HASH_FIELDS.has(kind) && typeof value === "string" && TOKEN_HASH.test(value)) return value;
  return REDACTED;
}

/** Nesting beyond which a subtree is replaced whole (never passed through unredacted). */
const MAX_DEPTH = 64;
/** What replaces a subtree nested deeper than MAX_DEPTH. */
export const TOO_DEEP = "[redacted: too deep]";
/** What replaces a reference back to an object being redacted (its copy is what gets written). */
const CIRCULAR = "[Circular]";

/**
 * value with every credential replaced; the same object when there was none (no copy on the common path).
 * ancestors: the objects on the path from the line's fields to value, to cut cycles.
 */
function redact(value: unknown, ancestors: object[]): unknown {
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object") return value;
  if (ancestors.includes(value)) return CIRCULAR;
  if (ancestors.length > MAX_DEPTH) return TOO_DEEP;
  if (value instanceof Error) return { type: value.name, message: scrubText(value.message), stack: value.stack && scrubText(value.stack) };
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const cleaned = redact(value[i], ancestors);
        if (cleaned !== value[i]) (copy ??= value.slice())[i] = cleaned;
      }
      return copy ?? value;
    }
    let copy: Record<string, unknown> | undefined;
    const record = value as Record<string, unknown>;
    for (const field in record) {
      const original = record[field];
      const kind = credentialField(field);
      const cleaned = kind ? censor(kind, original) : redact(original, ancestors);
      if (cleaned !== original) (copy ??= { ...record })[field] = cleaned;
    }
    return copy ?? value;
  } finally {
    ancestors.pop();
  }
}

/** Every line's fields with credentials replaced (exported for tests). */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redact(fields, []) as Record<string, unknown>;
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
