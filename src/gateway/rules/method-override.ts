// Method overrides: ways a client asks a backend to run a request as another method (Rails and Rack,
// Laravel and Symfony, Express's method-override, ASP.NET Core, Spring's HiddenHttpMethodFilter). The
// gateway checks scopes against the request's own method, so a GET with a read scope must not reach a
// backend as a DELETE. Hence: the override headers are dropped under every spelling
// (forward/headers.ts), a `_method` query parameter is removed here, and a form body with a `_method`
// field, or a JSON body with a top-level `_method` key (Laravel merges JSON into the request's
// parameters), is refused (forward/form-guard.ts).
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
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const UNDERSCORE = 0x5f;
const NUL = 0;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** A name character as backends compare it: ASCII lower case (ASP.NET Core's form is case-insensitive); PHP reads " " and "." as "_", and so does the gateway with "-". */
function nameCode(code: number): number {
  if (code === SPACE || code === 0x2e || code === 0x2d) return UNDERSCORE;
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
}

/** Whitespace (which no parser known strips from a name's end, but which costs nothing to read as such) and ".". */
function trailing(code: number): boolean {
  return code === SPACE || (code >= 0x09 && code <= 0x0d) || code === 0x2e;
}

/**
 * Whether a field name, given one decoded character at a time, is `_method` as the laxest backend
 * reads it:
 *  - leading spaces are ignored (PHP), and so are leading "[" and "]" (Rack 2: "[_method]" is `_method`);
 *  - without case, " ", "." and "-" read as "_" (PHP: "_method" from ".method" or " method");
 *  - the name ends at a NUL (PHP cuts names at one: "_method\0x" is `_method`), at "[" (PHP's and Rack's
 *    arrays, "_method[]") and at "]" (Rack 2);
 *  - trailing whitespace and "." are ignored.
 */
export class MethodNameMatcher {
  /** Characters of NAME matched; -1 once the name cannot be NAME. */
  #matched = 0;
  #leading = true;
  /** The name is NAME whatever follows. */
  #settled = false;

  /** The next character (a code unit, or a byte). */
  char(code: number): void {
    if (this.#matched === -1 || this.#settled) return;
    if (this.#leading) {
      if (code === SPACE || code === OPEN_BRACKET || code === CLOSE_BRACKET) return;
      this.#leading = false;
    }
    if (this.#matched === NAME.length) {
      if (code === NUL || code === OPEN_BRACKET || code === CLOSE_BRACKET) this.#settled = true;
      else if (!trailing(code)) this.#matched = -1;
    } else if (nameCode(code) === NAME.charCodeAt(this.#matched)) this.#matched++;
    else this.#matched = -1;
  }

  /** Whether the name given so far is `_method` (settled, or complete up to trailing characters). */
  get matches(): boolean {
    return this.#settled || this.#matched === NAME.length;
  }

  /** Whether the name is `_method` whatever follows (it ended at a NUL, "[" or "]"). */
  get settled(): boolean {
    return this.#settled;
  }

  /** Whether no further character can make the name `_method`. */
  get lost(): boolean {
    return this.#matched === -1;
  }

  reset(): void {
    this.#matched = 0;
    this.#leading = true;
    this.#settled = false;
  }

  /** Whether a whole name (already decoded) is `_method`. */
  static test(name: string): boolean {
    const matcher = new MethodNameMatcher();
    for (let i = 0; i < name.length && !matcher.lost; i++) matcher.char(name.charCodeAt(i));
    return matcher.matches;
  }
}

/**
 * Finds a field named `_method` in application/x-www-form-urlencoded text given in pieces (a query
 * string, or a body as it streams). Names are read the way the laxest backend reads them: percent
 * escapes and "+" decoded, then as MethodNameMatcher says. Fields are separated by "&" and by ";"
 * (older parsers split on both). A broken escape is a literal "%", which no `_method` contains.
 */
export class MethodFieldScanner {
  readonly #name = new MethodNameMatcher();
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
      } else {
        this.#nameByte(code);
        if (this.#name.settled) this.#found = true;
      }
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
      else this.#name.char(code === PLUS ? SPACE : code);
      return;
    }
    const digit = hexValue(code);
    if (digit === -1) {
      this.#escape = 0;
      this.#name.char(PERCENT);
      this.#nameByte(code);
    } else if (this.#escape === 1) {
      this.#high = digit;
      this.#escape = 2;
    } else {
      this.#escape = 0;
      this.#name.char(this.#high * 16 + digit);
    }
  }

  #endName(): void {
    if (this.#escape !== 0) this.#name.char(PERCENT);
    if (this.#name.matches) this.#found = true;
    this.#escape = 0;
  }

  #endField(): void {
    if (!this.#inValue) this.#endName();
    this.#name.reset();
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
