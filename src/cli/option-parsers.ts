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
