// Parsers for commander options: they reject bad values while the command line is read, with commander's
// usual one-line `error: option '--x <v>' argument 'y' is invalid. ...` and exit code 1.
import { InvalidArgumentError } from "commander";

/** An option given several times (`--redirect-uri A --redirect-uri B`) collects every value. */
export function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function repeatableChoice(choices: readonly string[]) {
  return (value: string, previous: string[] = []): string[] => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`Allowed choices are ${choices.join(", ")}.`);
    return [...previous, value];
  };
}

/** `--scope "a b" --scope c` gives a, b and c: OAuth writes scopes space-separated. */
export function scopeList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/\s+/).filter(Boolean)];
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError("Expected a positive whole number.");
  return Number(value);
}

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("Expected a whole number.");
  return Number(value);
}

/** `NAME=VALUE`, split at the first "=", both sides required. */
export function pair(value: string, format: string): [string, string] {
  const at = value.indexOf("=");
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError(`Expected ${format}.`);
  return [value.slice(0, at), value.slice(at + 1)];
}

/**
 * For options that also have a `--no-` form (which sets them to false, meaning "none"): a later
 * occurrence starts the collection again.
 */
export function collected<T>(previous: T | false | undefined, empty: T): T {
  return previous === undefined || previous === false ? empty : previous;
}
