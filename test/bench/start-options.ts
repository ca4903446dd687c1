// The node options of `npm start` (package.json's start script), so that a benchmark runs Gatehouse as
// `npm start` runs it.
import fs from "node:fs";

/**
 * The options between `node` and `src/main.ts` in package.json's start script.
 * @throws when the start script is not `node [options] src/main.ts`
 */
export function startNodeOptions(packageJson = "package.json"): string[] {
  const start = (JSON.parse(fs.readFileSync(packageJson, "utf8")) as { scripts: { start: string } }).scripts.start;
  const match = /^node\s+(.*?)\s*src\/main\.ts$/.exec(start);
  if (!match) throw new Error(`package.json's start script is not "node [options] src/main.ts": ${start}`);
  return match[1]!.split(/\s+/).filter(Boolean);
}
