// Text the databases can hold. PostgreSQL refuses U+0000 in text ("invalid byte sequence for encoding
// UTF8: 0x00") and, in jsonb, a NUL or a lone surrogate escape; a lone surrogate in a parameter reaches
// it as U+FFFD and could then match another value. No stored id, name or token contains either, so a
// lookup for such a value is "not found" without asking the database, and a write of one is refused.
// The same rule refuses requests carrying them at the authorization server's door (request-hygiene.ts).

/** U+0000, or a surrogate that is not half of a pair (with the u flag, a pair is one code point, not Cs). */
const UNSTORABLE = /\0|\p{Cs}/u;

/** Whether value is text every supported database stores as it is: no U+0000 and no lone surrogate. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** The path of the first string (or object key) in value that is not storable text, or undefined. */
export function unstorableTextIn(value: unknown, path = "", depth = 0): string | undefined {
  if (typeof value === "string") return isStorableText(value) ? undefined : path || "(value)";
  if (value === null || typeof value !== "object" || depth > 32) return undefined;
  if (value instanceof Date || value instanceof Uint8Array) return undefined;
  for (const [key, item] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const at = path ? `${path}.${String(key)}` : String(key);
    if (typeof key === "string" && !isStorableText(key)) return at;
    const found = unstorableTextIn(item, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Thrown by a repository asked to write text no database can hold (see isStorableText). */
export class UnstorableText extends Error {
  readonly field: string;

  constructor(field: string) {
    super(`${field} contains a NUL character or an unpaired surrogate, which cannot be stored`);
    this.name = "UnstorableText";
    this.field = field;
  }
}
