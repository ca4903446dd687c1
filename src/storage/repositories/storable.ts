// The repositories' guard for text PostgreSQL cannot hold (shared/storable-text.ts): a lookup by a key
// containing U+0000 or a lone surrogate matches nothing without asking the database, and a write of one
// is refused with UnstorableText, on SQLite too, so both backends answer alike.
import { isStorableText, unstorableTextIn, UnstorableText } from "../../shared/storable-text.ts";

/** Whether every key of a lookup could be stored at all (otherwise no row can match). */
export function storable(...keys: Array<string | null | undefined>): boolean {
  return keys.every((key) => key === null || key === undefined || isStorableText(key));
}

/**
 * @param entity what is written, for the message ("client", "user", ...)
 * @throws UnstorableText when some string (or key) in value contains U+0000 or a lone surrogate
 */
export function assertStorable(entity: string, value: unknown): void {
  const field = unstorableTextIn(value);
  if (field) throw new UnstorableText(`${entity} ${field}`);
}
