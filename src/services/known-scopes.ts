// Scopes a client may be allowed or a route may require must exist: a typo is refused with the list of
// the names that do, instead of being stored and never matching anything.
import type { Storage } from "../storage/index.ts";
import { ValidationError } from "./errors.ts";
import { STANDARD_SCOPES } from "./scopes.ts";

/** Every scope name in use: the standard OIDC ones, the registered ones and every API's. */
export async function knownScopes(storage: Storage): Promise<Set<string>> {
  const [scopes, apis] = await Promise.all([storage.scopes.list(), storage.apis.list()]);
  return new Set([...STANDARD_SCOPES, ...scopes.map((s) => s.name), ...apis.flatMap((a) => a.scopes)]);
}

/**
 * @param field the list's public field name, for the error (e.g. "scopes", "scopes.GET.all_of")
 * @throws ValidationError naming each unknown scope, with the known ones
 */
export function requireKnown(field: string, names: readonly string[], known: ReadonlySet<string>): void {
  const unknown = names.flatMap((name, index) => (known.has(name) ? [] : [{ name, index }]));
  if (!unknown.length) return;
  const sorted = [...known].sort();
  const listed = sorted.length > 30 ? `${sorted.slice(0, 30).join(", ")}, … (${sorted.length} in all)` : sorted.join(", ");
  throw new ValidationError(unknown.map(({ name, index }) => ({ field: `${field}[${index}]`, message: `unknown scope "${name}" (known scopes: ${listed})` })));
}
