// Refuses a form body that carries a `_method` field, and a JSON body with a top-level `_method` key
// (rules/method-override.ts says why), while it streams to the upstream: bodies are never buffered, so
// the check runs on each chunk before it is passed on, and the body's last byte is held back until the
// whole body has been read. A refused body therefore never reaches the upstream complete, and the
// forwarder aborts the upstream request.
//
// Which bodies are read is decided the way the laxest backend decides: PHP takes the media type up to
// the first ";", "," or space ("application/x-www-form-urlencoded, text/plain" is a form to PHP), Rack
// up to ";" or ",", Symfony by its start, Rack reads a POST without a Content-Type as a form, and
// Laravel reads a body as JSON when its Content-Type contains "/json" or "+json". So a body is read as
// a form when its Content-Type is empty (up to the first ";" or ",") or contains
// application/x-www-form-urlencoded, as multipart when it contains "multipart/", and as JSON when it
// contains "json" — as all three at once when it says so.
import type { IncomingHttpHeaders } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { InvalidRequest } from "../errors.ts";
import { MethodFieldScanner, MethodNameMatcher } from "../rules/method-override.ts";

/** Reads a body in pieces; true once it has seen a `_method` field. */
interface FieldScanner {
  feed(chunk: Uint8Array): boolean;
  end(): boolean;
  /** The refusal's description, once feed() or end() has returned true. */
  readonly refusal: string;
}

const FORM_REFUSAL = "method overrides are not accepted: the form body has a _method field";
const JSON_REFUSAL = "method overrides are not accepted: the JSON body has a top-level _method key";

/** application/x-www-form-urlencoded text (MethodFieldScanner) as a FieldScanner. */
class UrlencodedScanner implements FieldScanner {
  readonly refusal = FORM_REFUSAL;
  readonly #scanner = new MethodFieldScanner();

  feed(chunk: Uint8Array): boolean {
    return this.#scanner.feed(chunk);
  }

  end(): boolean {
    return this.#scanner.end();
  }
}

const LF = 0x0a;
const COLON = 0x3a;
const DISPOSITION = "content-disposition";
/** Longest Content-Disposition header of a part read, folded lines included (busboy refuses part headers past 16 KiB too). */
const MAX_DISPOSITION = 16 * 1024;

/**
 * multipart/*: finds a part whose Content-Disposition names `_method`. It does not rely on the
 * boundary (where parsers disagree about a malformed Content-Type): every line of the body that is a
 * Content-Disposition header, with its folded continuation lines, is read, wherever it is. A line too
 * long to read is refused rather than let through unread.
 */
class MultipartScanner implements FieldScanner {
  readonly refusal = FORM_REFUSAL;
  /** "line": at the start of a line, #matched characters of DISPOSITION seen; "skip": rest of a line; "header": a Content-Disposition value. */
  #mode: "line" | "skip" | "header" = "line";
  #matched = 0;
  #header = "";
  /** In "header" mode: a line ended, so the next byte says whether the header goes on (folding). */
  #lineEnded = false;
  #found = false;

  feed(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length && !this.#found; i++) {
      const code = chunk[i]!;
      if (this.#mode === "header") {
        if (this.#lineEnded) {
          this.#lineEnded = false;
          if (code === 0x20 || code === 0x09) continue;
          this.#newLine();
        } else if (code === LF) {
          this.#lineEnded = true;
          this.#found = namesMethod(this.#header);
          continue;
        } else {
          this.#header += String.fromCharCode(code);
          if (this.#header.length > MAX_DISPOSITION) throw new InvalidRequest("a part header of the form body is too long", "form_header_too_long");
          continue;
        }
      }
      if (this.#mode === "skip") {
        const end = chunk.indexOf(LF, i);
        if (end === -1) break;
        i = end;
        this.#newLine();
      } else if (this.#matched < DISPOSITION.length && (code | 0x20) === DISPOSITION.charCodeAt(this.#matched)) {
        this.#matched++;
      } else if (this.#matched === DISPOSITION.length && code === COLON) {
        this.#mode = "header";
        this.#header = "";
      } else if (this.#matched < DISPOSITION.length || (code !== 0x20 && code !== 0x09)) {
        // Not a Content-Disposition line (spaces may stand between the name and the colon).
        if (code === LF) this.#newLine();
        else this.#mode = "skip";
      }
    }
    return this.#found;
  }

  #newLine(): void {
    this.#mode = "line";
    this.#matched = 0;
  }

  end(): boolean {
    if (this.#mode === "header" && !this.#lineEnded) this.#found ||= namesMethod(this.#header);
    return this.#found;
  }
}

/**
 * Whether a Content-Disposition value names `_method`: its "name" parameters, and "name*" ones
 * (RFC 2231/8187 extended values, continuations joined), read like a form field name, as sent and
 * with RFC 2047 encoded words decoded.
 */
function namesMethod(disposition: string): boolean {
  const continued: string[] = [];
  for (const [key, value] of parameters(disposition)) {
    if (key === "name" && isMethodName(value)) return true;
    if (key === "name*" && isMethodName(extendedValue(value))) return true;
    const part = /^name\*(\d+)\*?$/.exec(key);
    if (part) continued[Number(part[1])] = key.endsWith("*") ? extendedValue(value) : value;
  }
  return continued.length !== 0 && isMethodName(continued.join(""));
}

function isMethodName(name: string): boolean {
  return MethodFieldScanner.in(name) || (name.includes("=?") && MethodFieldScanner.in(decodeEncodedWords(name)));
}

/**
 * RFC 2047 encoded words ("=?UTF-8?B?X21ldGhvZA==?=", "=?UTF-8?Q?=5Fmethod?="), which Tomcat's and
 * Commons FileUpload's part parsers (under Spring's HiddenHttpMethodFilter) decode in a part's name;
 * the space between two of them goes, as in RFC 2047 §6.2. Bytes come out as Latin-1: only ASCII matters.
 */
function decodeEncodedWords(text: string): string {
  return text.replace(/(\?=)\s+(?==\?)/g, "$1").replace(/=\?[^?]*\?([bq])\?([^?]*)\?=/gi, (_word, encoding: string, encoded: string) =>
    encoding.toLowerCase() === "b"
      ? Buffer.from(encoded, "base64").toString("latin1")
      : encoded.replaceAll("_", " ").replace(/=([0-9a-f]{2})/gi, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16))),
  );
}

/** RFC 8187: charset'language'value; the scanner decodes the value's percent escapes. */
function extendedValue(value: string): string {
  const quote = value.indexOf("'", value.indexOf("'") + 1);
  return quote === -1 ? value : value.slice(quote + 1);
}

/**
 * The key=value parameters of a header value, keys in lower case. Read the way PHP reads a part's
 * Content-Disposition: every ";"-separated segment with a "=" is one (the first too), and a value in
 * double or single quotes is unquoted, backslash escapes included.
 */
function* parameters(header: string): Generator<[string, string]> {
  let i = 0;
  while (i < header.length) {
    let end = i;
    let value = "";
    let key: string | undefined;
    for (; end < header.length && header[end] !== ";"; end++) {
      const char = header[end]!;
      if (key === undefined) {
        if (char === "=") key = header.slice(i, end).trim().toLowerCase();
      } else if ((char === '"' || char === "'") && value.trim() === "") {
        value = "";
        for (end++; end < header.length && header[end] !== char; end++) value += header[end] === "\\" && end + 1 < header.length ? header[++end] : header[end];
      } else value += char;
    }
    if (key !== undefined) yield [key, value.trim()];
    i = end + 1;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The characters of JSON's one-letter escapes (RFC 8259 §7); \" \\ and \/ stand for themselves. */
const JSON_ESCAPES: Record<number, number> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * JSON: finds a key of the top-level object that is `_method` (escapes such as \u005f decoded, then
 * read like a form field name, MethodNameMatcher). Laravel merges a JSON body into the request's
 * parameters, where Symfony's method override finds it. A streaming tokenizer: strings (and their
 * escapes) and nesting are followed across chunks, in constant memory; keys of nested objects and
 * values are not names. Invalid JSON, which no backend reads fields from, is read as leniently as it
 * comes (a "{" outside any value starts a top-level object).
 */
class JsonScanner implements FieldScanner {
  readonly refusal = JSON_REFUSAL;
  #depth = 0;
  #topObject = false;
  /** In the top-level object, where the next string is a key. */
  #expectKey = false;
  #inString = false;
  /** The current string is a key of the top-level object. */
  #isKey = false;
  /** 0: none; 1: after "\"; 2 to 5: after "\u" and that many hex digits less 2. */
  #escape = 0;
  #unit = 0;
  readonly #name = new MethodNameMatcher();
  #found = false;

  feed(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length && !this.#found; i++) {
      const code = chunk[i]!;
      if (this.#inString) this.#stringByte(code);
      else if (code === QUOTE) {
        this.#inString = true;
        this.#isKey = this.#depth === 1 && this.#topObject && this.#expectKey;
        if (this.#isKey) this.#name.reset();
      } else if (code === 0x7b || code === 0x5b) {
        // "{" or "["
        if (this.#depth === 0) {
          this.#topObject = code === 0x7b;
          this.#expectKey = this.#topObject;
        }
        this.#depth++;
      } else if (code === 0x7d || code === 0x5d) {
        // "}" or "]"
        if (this.#depth > 0) this.#depth--;
      } else if (this.#depth === 1 && this.#topObject) {
        if (code === 0x2c) this.#expectKey = true;
        else if (code === 0x3a) this.#expectKey = false;
      }
    }
    return this.#found;
  }

  end(): boolean {
    return this.#found;
  }

  #stringByte(code: number): void {
    if (this.#escape === 1) {
      this.#escape = 0;
      if (code === 0x75) {
        // "\u": four hex digits follow.
        this.#escape = 2;
        this.#unit = 0;
      } else this.#keyChar(JSON_ESCAPES[code] ?? code);
    } else if (this.#escape >= 2) {
      const digit = hexValue(code);
      if (digit === -1) {
        // Not JSON; read the character as it is.
        this.#escape = 0;
        this.#stringByte(code);
        return;
      }
      this.#unit = this.#unit * 16 + digit;
      if (++this.#escape === 6) {
        this.#escape = 0;
        this.#keyChar(this.#unit);
      }
    } else if (code === BACKSLASH) this.#escape = 1;
    else if (code === QUOTE) {
      this.#inString = false;
      if (this.#isKey) {
        this.#expectKey = false;
        if (this.#name.matches) this.#found = true;
      }
    } else this.#keyChar(code);
  }

  #keyChar(code: number): void {
    if (this.#isKey) this.#name.char(code);
  }
}

/** Several readings of one body (a Content-Type naming a form and JSON at once). */
class EveryScanner implements FieldScanner {
  readonly #scanners: FieldScanner[];
  refusal = "";

  constructor(scanners: FieldScanner[]) {
    this.#scanners = scanners;
  }

  feed(chunk: Uint8Array): boolean {
    for (const scanner of this.#scanners) if (scanner.feed(chunk)) return this.#refuse(scanner);
    return false;
  }

  end(): boolean {
    for (const scanner of this.#scanners) if (scanner.end()) return this.#refuse(scanner);
    return false;
  }

  #refuse(scanner: FieldScanner): true {
    this.refusal = scanner.refusal;
    return true;
  }
}

/** How backends may read a body with this Content-Type (see the top of this file). */
export function bodyReadings(contentType: string | undefined): { urlencoded: boolean; multipart: boolean; json: boolean; untyped: boolean } {
  const type = (contentType ?? "").toLowerCase();
  const untyped = /^[^;,]*/.exec(type)![0].trim() === "";
  return {
    untyped,
    urlencoded: untyped || type.includes("application/x-www-form-urlencoded"),
    multipart: type.includes("multipart/"),
    json: type.includes("json"),
  };
}

class FormGuard extends Transform {
  readonly #scanner: FieldScanner;
  /** The last byte read, passed on only once the next chunk or the end shows the body is clean. */
  #held: Buffer | undefined;

  constructor(scanner: FieldScanner) {
    super();
    this.#scanner = scanner;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    try {
      if (this.#scanner.feed(chunk)) return callback(new InvalidRequest(this.#scanner.refusal, "method_override"));
    } catch (error) {
      return callback(error as Error);
    }
    if (this.#held) this.push(this.#held);
    this.#held = chunk.subarray(chunk.length - 1);
    callback(null, chunk.subarray(0, chunk.length - 1));
  }

  override _flush(callback: TransformCallback): void {
    if (this.#scanner.end()) return callback(new InvalidRequest(this.#scanner.refusal, "method_override"));
    callback(null, this.#held);
  }
}

/**
 * A Transform refusing a `_method` field in a body with these headers, or undefined when there is
 * nothing to look for. Throws InvalidRequest ("form_encoded") for a compressed form (a form type and a
 * Content-Encoding other than identity): its fields cannot be read on the way, and Express's form
 * parsers inflate it. (Rack, which reads a body without a Content-Type as a form, inflates nothing.)
 * A compressed JSON body is not read: the backends that take `_method` from JSON (Laravel, Symfony)
 * inflate nothing either.
 */
export function formGuard(headers: IncomingHttpHeaders): Transform | undefined {
  const reading = bodyReadings(headers["content-type"]);
  const encoding = headers["content-encoding"]?.trim().toLowerCase();
  const compressed = Boolean(encoding) && encoding !== "identity";
  const form = !reading.untyped && (reading.urlencoded || reading.multipart);
  if (compressed && form) throw new InvalidRequest("a form body must not have a Content-Encoding", "form_encoded");
  const scanners: FieldScanner[] = [];
  if (reading.urlencoded) scanners.push(new UrlencodedScanner());
  if (reading.multipart) scanners.push(new MultipartScanner());
  if (reading.json && !compressed) scanners.push(new JsonScanner());
  if (scanners.length === 0) return undefined;
  return new FormGuard(scanners.length === 1 ? scanners[0]! : new EveryScanner(scanners));
}
