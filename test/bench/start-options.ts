// The node options and environment of `npm start` (package.json's start script), so that a benchmark
// runs Gatehouse as `npm start` runs it.
import fs from "node:fs";

interface StartCommand {
  /** NAME=value assignments before `node`, e.g. NODE_COMPILE_CACHE, with `${NAME:-default}` expanded as sh does. */
  env: Record<string, string>;
  /** The options between `node` and `src/main.ts`. */
  nodeOptions: string[];
}

/**
 * A value as sh expands it: `${NAME:-default}` is this process's NAME when set and not empty, else the
 * default (how the start script lets an operator's own environment win); anything else is literal.
 */
function expand(value: string): string {
  const fallback = /^\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}$/.exec(value);
  if (!fallback) return value;
  return process.env[fallback[1]!] || fallback[2]!;
}

/**
 * package.json's start script, split.
 * @throws when the start script is not `[NAME=value ...] node [options] src/main.ts`
 */
function startCommand(packageJson: string): StartCommand {
  const start = (JSON.parse(fs.readFileSync(packageJson, "utf8")) as { scripts: { start: string } }).scripts.start;
  const match = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)node\s+(.*?)\s*src\/main\.ts$/.exec(start);
  if (!match) throw new Error(`package.json's start script is not "[NAME=value ...] node [options] src/main.ts": ${start}`);
  const env = Object.fromEntries(
    match[1]!
      .split(/\s+/)
      .filter(Boolean)
      .map((assignment) => [assignment.slice(0, assignment.indexOf("=")), expand(assignment.slice(assignment.indexOf("=") + 1))]),
  );
  return { env, nodeOptions: match[2]!.split(/\s+/).filter(Boolean) };
}

/** The options between `node` and `src/main.ts` in package.json's start script. */
export function startNodeOptions(packageJson = "package.json"): string[] {
  return startCommand(packageJson).nodeOptions;
}

/** The environment the start script sets before `node` (relative paths are the project's, as npm runs it there). */
export function startEnv(packageJson = "package.json"): Record<string, string> {
  return startCommand(packageJson).env;
}
