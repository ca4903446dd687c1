// Everything the CLI prints goes through here: machine-readable JSON (--json) or text for people.
// stdout carries only the command's result; diagnostics go to stderr.

/** What a command hands back: the JSON form and, lazily, the text a person reads. */
export interface Result {
  data: unknown;
  text: () => string;
}

export function printResult(result: Result, json: boolean): void {
  process.stdout.write(json ? JSON.stringify(result.data, null, 2) + "\n" : withNewline(result.text()));
}

/** One line on stderr, and `{"error": ...}` on stdout for scripts reading --json output. */
export function printError(message: string, json: boolean): void {
  const line = message.replace(/\s*\n\s*/g, " ").trim();
  process.stderr.write(`error: ${line}\n`);
  if (json) process.stdout.write(JSON.stringify({ error: line }) + "\n");
}

function withNewline(text: string): string {
  return text === "" || text.endsWith("\n") ? text : text + "\n";
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.length ? value.map(cell).join(" ") : "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** "key  value" lines, one per field, aligned. */
export function fields(record: object): string {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record)
    .map(([key, value]) => `${key.padEnd(width)}  ${cell(value)}`)
    .join("\n");
}

/** A table of the given columns, headed by their names in capitals. */
export function table<T extends object>(rows: T[], columns: (keyof T & string)[]): string {
  if (rows.length === 0) return "(none)";
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((row) => columns.map((c) => cell(row[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((value, i) => value.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}
