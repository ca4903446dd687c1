// Puts a request path into the one form the route table matches and the upstream receives, so a
// path cannot look like one route to the gateway and like another to the backend
// ("/public/%2e%2e/admin" is matched, and forwarded, as "/admin").
import { InvalidRequest } from "../errors.ts";

/** Longest request path accepted, in characters of the request target (8 KB). */
export const MAX_PATH_LENGTH = 8192;

const SLASH = 0x2f;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;

/** Byte values that are never allowed, raw or percent-encoded: C0 controls (NUL included) and DEL. */
function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/** RFC 3986 unreserved characters: their percent-encoding means the same as the character itself. */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x2d || // -
    code === 0x2e || // .
    code === 0x5f || // _
    code === 0x7e // ~
  );
}

/** ASCII characters copied unchanged: unreserved, plus the sub-delims, ":" and "@" RFC 3986 allows raw in a segment. */
const COPIED_RAW = new Uint8Array(0x80);
for (let code = 0; code < 0x80; code++) if (isUnreserved(code) || "!$&'()*+,;=:@".includes(String.fromCharCode(code))) COPIED_RAW[code] = 1;

/** "..;x", ".;", "..%3B": a segment that is "." or ".." once a path parameter is cut off. */
function isDotSegmentWithParameters(segment: string): boolean {
  if (segment.charCodeAt(0) !== 0x2e) return false;
  const dots = segment.charCodeAt(1) === 0x2e ? 2 : 1;
  return segment.startsWith(";", dots) || segment.startsWith("%3B", dots);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

function percentEncoded(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
}

function refuseByte(byte: number): void {
  if (byte === SLASH || byte === BACKSLASH) {
    // Decoding them would change the segments; passing them on lets a backend that decodes
    // them see a different path from the one that was checked.
    throw new InvalidRequest("the request path must not contain an encoded slash or backslash", "path_encoded_slash");
  }
  if (isControl(byte)) throw new InvalidRequest("the request path must not contain control characters", "path_control_character");
}

/**
 * Returns the normal form of the path part of a request target (without the query): unreserved
 * characters percent-decoded and other percent-encodings in upper case, characters a path may not
 * hold raw percent-encoded (UTF-8), duplicate slashes collapsed, and dot segments removed after
 * decoding (RFC 3986 §5.2.4, climbing above the root stays at the root). A trailing slash is kept.
 * Throws InvalidRequest for anything that could be read two ways: encoded slashes or backslashes,
 * raw backslashes, control characters, malformed percent-encoding, dot segments with parameters
 * ("..;"), a target that is not an absolute path, or more than MAX_PATH_LENGTH characters.
 */
export function normalizePath(rawPath: string): string {
  if (rawPath.length > MAX_PATH_LENGTH) throw new InvalidRequest(`the request path exceeds ${MAX_PATH_LENGTH} characters`, "path_too_long");
  if (rawPath.charCodeAt(0) !== SLASH) throw new InvalidRequest("the request target must be an absolute path", "path_not_absolute");

  const segments: string[] = [];
  // Whether the path ends in a slash once dot segments are gone ("/a/b/.." is "/a/").
  let trailingSlash = false;
  let segment = "";
  // Start of the run of characters that are copied unchanged, so the common case copies slices.
  let runStart = 1;

  for (let i = 1; i <= rawPath.length; i++) {
    const code = i < rawPath.length ? rawPath.charCodeAt(i) : SLASH;
    if (code === SLASH) {
      segment += rawPath.slice(runStart, i);
      runStart = i + 1;
      if (isDotSegmentWithParameters(segment)) {
        // Servlet containers drop ";…" from a segment before resolving dots, so "/public/..;/admin"
        // would be "/public/…" here and "/admin" there.
        throw new InvalidRequest("the request path has a dot segment with parameters", "path_dot_segment_parameters");
      }
      if (segment === "..") segments.pop();
      else if (segment !== "." && segment !== "") segments.push(segment);
      trailingSlash = segment === "." || segment === ".." || segment === "";
      segment = "";
      continue;
    }
    if (COPIED_RAW[code] === 1) continue;

    segment += rawPath.slice(runStart, i);
    if (code === PERCENT) {
      const high = hexValue(rawPath.charCodeAt(i + 1));
      const low = hexValue(rawPath.charCodeAt(i + 2));
      if (high < 0 || low < 0) throw new InvalidRequest("the request path has malformed percent-encoding", "path_malformed_encoding");
      const byte = high * 16 + low;
      refuseByte(byte);
      segment += isUnreserved(byte) ? String.fromCharCode(byte) : percentEncoded(byte);
      i += 2;
    } else if (code === BACKSLASH) {
      // Some servers treat "\" as "/"; refusing it keeps the segments unambiguous.
      throw new InvalidRequest("the request path must not contain a backslash", "path_backslash");
    } else if (code < 0x80) {
      refuseByte(code);
      // Characters such as space, "<" or "|" are not valid raw in a path; their encoded form is
      // what an equivalent, well-formed request carries, so both match the same way.
      segment += percentEncoded(code);
    } else {
      const codePoint = rawPath.codePointAt(i)!;
      if (codePoint >= 0xd800 && codePoint <= 0xdfff) throw new InvalidRequest("the request path is not valid Unicode", "path_invalid_unicode");
      for (const byte of Buffer.from(String.fromCodePoint(codePoint), "utf8")) segment += percentEncoded(byte);
      if (codePoint > 0xffff) i++;
    }
    runStart = i + 1;
  }

  if (segments.length === 0) return "/";
  return `/${segments.join("/")}${trailingSlash ? "/" : ""}`;
}
