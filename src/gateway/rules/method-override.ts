// Method overrides: ways a client asks a backend to run a request as another method (Rails and Rack,
// Laravel and Symfony, Express's method-override, ASP.NET). The gateway checks scopes against the
// request's own method, so a GET with a read scope must not reach a backend as a DELETE. Hence: the
// override headers are dropped under every spelling (forward/headers.ts), a `_method` query parameter
// is removed here, and a form body with a `_method` field is refused (forward/form-guard.ts).
import { headerKey } from "../../shared/header-names.ts";

/**
 * Header names (as headerKey() gives them) that override the method. (The headers that override the
 * path, X-Original-URL and X-Rewrite-URL, and the ones that state the method a proxy received,
 * X-Original-Method and X-Forwarded-Method, are forwarding headers: shared/header-names.ts.)
 */
export const REQUEST_OVERRIDE_HEADERS: readonly string[] = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"].map(headerKey);

const NAME = "_method";
const AMPERSAND = 0x26;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const PERCENT = 0x25;
const PLUS = 0x2b;
const SPACE = 0x20;
const BRACKET = 0x5b;
const UNDERSCORE = 0x5f;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** A name character as backends compare it: ASCII lower case; PHP reads " " and "." as "_", and so does the gateway with "-". */
function nameCode(code: number): number {
  if (code === SPACE || code === 0x2e || code === 0x2d) return UNDERSCORE;
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
}

/**
 * Finds a field named `_method` in application/x-www-form-urlencoded text given in pieces (a query
 * string, or a body as it streams). Names are read the way the laxest backend reads them: percent
 * escapes and "+" decoded, without case, leading spaces ignored (PHP), " ", "." and "-" read as "_",
 * and a "[...]" suffix ignored (PHP's arrays: `_method[]`). Fields are separated by "&" and by ";"
 * (older parsers split on both). A broken escape is a literal "%", which no `_method` contains.
 */
export class MethodFieldScanner {
  /** Characters of NAME matched in the current field name; -1 once it cannot be NAME. */
  #matched = 0;
  #leadingSpaces = true;
  #inValue = false;
  /** 0: no escape; 1: after "%"; 2: after "%" and one hex digit (#high). */
  #escape = 0;
  #high = 0;
  #found = false;

  /** Whether text names a `_method` field anywhere. */
  static in(text: string): boolean {
    const scanner = new MethodFieldScanner();
    return scanner.feed(text) || scanner.end();
  }

  /** Reads the next piece (code units of a string, or bytes); true once a `_method` field has been seen. */
  feed(piece: string | Uint8Array): boolean {
    const text = typeof piece === "string";
    for (let i = 0; i < piece.length && !this.#found; i++) {
      const code = text ? piece.charCodeAt(i) : piece[i]!;
      if (code === AMPERSAND || code === SEMICOLON) this.#endField();
      else if (this.#inValue) continue;
      else if (code === EQUALS) {
        this.#endName();
        this.#inValue = true;
      } else this.#nameByte(code);
    }
    return this.#found;
  }

  /** The input has ended: true when a `_method` field has been seen, the last one included. */
  end(): boolean {
    this.#endField();
    return this.#found;
  }

  #nameByte(code: number): void {
    if (this.#escape === 0) {
      if (code === PERCENT) this.#escape = 1;
      else this.#nameChar(code === PLUS ? SPACE : code);
      return;
    }
    const digit = hexValue(code);
    if (digit === -1) {
      this.#escape = 0;
      this.#nameChar(PERCENT);
      this.#nameByte(code);
    } else if (this.#escape === 1) {
      this.#high = digit;
      this.#escape = 2;
    } else {
      this.#escape = 0;
      this.#nameChar(this.#high * 16 + digit);
    }
  }

  #nameChar(code: number): void {
    if (this.#matched === -1) return;
    if (this.#leadingSpaces && code === SPACE) return;
    this.#leadingSpaces = false;
    if (this.#matched === NAME.length) {
      if (code === BRACKET) this.#found = true;
      else this.#matched = -1;
    } else if (nameCode(code) === NAME.charCodeAt(this.#matched)) this.#matched++;
    else this.#matched = -1;
  }

  #endName(): void {
    if (this.#escape !== 0) this.#nameChar(PERCENT);
    if (this.#matched === NAME.length) this.#found = true;
    this.#matched = -1;
    this.#escape = 0;
  }

  #endField(): void {
    if (!this.#inValue) this.#endName();
    this.#matched = 0;
    this.#leadingSpaces = true;
    this.#inValue = false;
  }
}

/**
 * The query without its `_method` parameters (see MethodFieldScanner), every other parameter and
 * separator kept exactly as sent. The common query without one costs one pass and no allocation.
 */
export function withoutMethodOverride(query: string): string {
  if (query === "" || !MethodFieldScanner.in(query)) return query;
  let kept = "";
  let first = true;
  let start = 0;
  for (let i = 0; i <= query.length; i++) {
    const code = i === query.length ? AMPERSAND : query.charCodeAt(i);
    if (code !== AMPERSAND && code !== SEMICOLON) continue;
    const field = query.slice(start, i);
    if (!MethodFieldScanner.in(field)) {
      kept += first ? field : query[start - 1] + field;
      first = false;
    }
    start = i + 1;
  }
  return kept;
}
