// Everything the CLI prints goes through here: machine-readable JSON (--json) or text for people.
// stdout carries only the command's result; diagnostics go to stderr.

/** What a command hands back: the JSON form and, lazily, the text a person reads. */
export interface Result {
  data: unknown;
  text: () => string;
}

/** How a result is printed: JSON (--json), shell assignments (--env), or text for people. */
export type OutputMode = { kind: "json" } | { kind: "env"; prefix: string } | { kind: "text" };

export function printResult(result: Result, mode: OutputMode): void {
  if (mode.kind === "json") process.stdout.write(JSON.stringify(result.data, null, 2) + "\n");
  else if (mode.kind === "env") process.stdout.write(shellExports(result.data, mode.prefix));
  else process.stdout.write(withNewline(result.text()));
}

/** POSIX shell single quotes: nothing inside is expanded; a quote is closed, escaped and reopened. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * `export PREFIX_FIELD='value'` for each top-level text, number or boolean field, for
 * `eval "$(gatehouse client create ... --env WEB)"`; lists and objects are left out.
 */
export function shellExports(data: unknown, prefix: string): string {
  if (!data || typeof data !== "object" || Array.isArray(data)) return "";
  const lines: string[] = [];
  for (const [field, value] of Object.entries(data)) {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") continue;
    const name = `${prefix ? `${prefix}_` : ""}${field}`.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    lines.push(`export ${name}=${shellQuote(String(value))}\n`);
  }
  return lines.join("");
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
