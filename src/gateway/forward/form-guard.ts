// Refuses a form body that carries a `_method` field (rules/method-override.ts says why) while it
// streams to the upstream: bodies are never buffered, so the check runs on each chunk before it is
// passed on, and the body's last byte is held back until the whole body has been read. A refused
// body therefore never reaches the upstream complete, and the forwarder aborts the upstream request.
import type { IncomingHttpHeaders } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { InvalidRequest } from "../errors.ts";
import { MethodFieldScanner } from "../rules/method-override.ts";

/** Reads a body in pieces; true once it has seen a `_method` field. */
interface FieldScanner {
  feed(chunk: Uint8Array): boolean;
  end(): boolean;
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
 * (RFC 2231/8187 extended values, continuations joined), read like a form field name.
 */
function namesMethod(disposition: string): boolean {
  const continued: string[] = [];
  for (const [key, value] of parameters(disposition)) {
    if (key === "name" && MethodFieldScanner.in(value)) return true;
    if (key === "name*" && MethodFieldScanner.in(extendedValue(value))) return true;
    const part = /^name\*(\d+)\*?$/.exec(key);
    if (part) continued[Number(part[1])] = key.endsWith("*") ? extendedValue(value) : value;
  }
  return continued.length !== 0 && MethodFieldScanner.in(continued.join(""));
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

/** The media type of a Content-Type, lower case; "" when there is none. */
function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return "";
  const semicolon = contentType.indexOf(";");
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/**
 * The scanner for a body of this media type, or undefined for a body no backend reads fields from:
 * application/x-www-form-urlencoded, multipart/* (form-data, and mixed, which Rack parses too), and no
 * Content-Type at all (Rack reads a POST without one as a form).
 */
function scannerFor(type: string): FieldScanner | undefined {
  if (type === "" || type === "application/x-www-form-urlencoded") return new MethodFieldScanner();
  if (type.startsWith("multipart/")) return new MultipartScanner();
  return undefined;
}

const REFUSAL = "method overrides are not accepted: the form body has a _method field";

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
      if (this.#scanner.feed(chunk)) return callback(new InvalidRequest(REFUSAL, "method_override"));
    } catch (error) {
      return callback(error as Error);
    }
    if (this.#held) this.push(this.#held);
    this.#held = chunk.subarray(chunk.length - 1);
    callback(null, chunk.subarray(0, chunk.length - 1));
  }

  override _flush(callback: TransformCallback): void {
    if (this.#scanner.end()) return callback(new InvalidRequest(REFUSAL, "method_override"));
    callback(null, this.#held);
  }
}

/**
 * A Transform refusing a `_method` field in a body with these headers, or undefined when there is
 * nothing to look for. Throws InvalidRequest ("form_encoded") for a compressed form (a form type and a
 * Content-Encoding other than identity): its fields cannot be read on the way, and Express's form
 * parsers inflate it. (Rack, which reads a body without a Content-Type as a form, inflates nothing.)
 */
export function formGuard(headers: IncomingHttpHeaders): Transform | undefined {
  const type = mediaType(headers["content-type"]);
  const scanner = scannerFor(type);
  if (!scanner) return undefined;
  const encoding = headers["content-encoding"]?.trim().toLowerCase();
  if (type !== "" && encoding && encoding !== "identity") throw new InvalidRequest("a form body must not have a Content-Encoding", "form_encoded");
  return new FormGuard(scanner);
}
