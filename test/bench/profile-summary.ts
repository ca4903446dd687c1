// Summarises a V8 .cpuprofile (from `token.ts --profile DIR`): where the busy time went, by package
// (self time) and by function (self and inclusive time), so hot spots can be compared between
// Gatehouse and the bare provider.
//
//   node test/bench/profile-summary.ts DIR/gatehouse/CPU.*.cpuprofile [--top 25] [--match text] [--under text] [--from S] [--tokens N]
//
// --match keeps only functions whose name or file contains the text (e.g. --match oidc-provider).
// --under keeps only samples with such a function on the stack, to see what a hot function spends on.
// --from skips the first S seconds of the profile (start-up, migrations).
// --tokens N (the count token.ts prints) adds CPU time per token, to compare profiles of different lengths
// (leave out --from then: the count includes the warm-up).
import fs from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" }, match: { type: "string" }, under: { type: "string" }, from: { type: "string", default: "0" }, tokens: { type: "string" } },
});
if (positionals.length !== 1) throw new Error("usage: profile-summary.ts FILE.cpuprofile [--top N] [--match text] [--under text] [--from S] [--tokens N]");
const top = Number(values.top);
const profile = JSON.parse(fs.readFileSync(positionals[0]!, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const IDLE = new Set(["(idle)", "(program)"]);

function area(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "node core";
  const local = /\/(src|test)\/(.+?)\/[^/]+$/.exec(url);
  return local ? `${local[1]}/${local[2]}` : url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|test)\//, "$1/");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const areas = new Map<string, number>();
function stack(id: number): string[] {
  const frames: string[] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(label(byId.get(at)!));
  return frames;
}

const skipUs = Number(values.from) * 1e6;
let elapsed = 0;
let busy = 0;
let total = 0;
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0;
  elapsed += delta;
  if (elapsed < skipUs) return;
  total += delta;
  const node = byId.get(id)!;
  if (IDLE.has(node.callFrame.functionName)) return;
  const frames = stack(id);
  if (values.under && !frames.some((frame) => frame.includes(values.under!))) return;
  busy += delta;
  const name = label(node);
  self.set(name, (self.get(name) ?? 0) + delta);
  const where = area(node.callFrame.url, node.callFrame.functionName);
  areas.set(where, (areas.get(where) ?? 0) + delta);
  for (const frame of new Set(frames)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + delta);
});

const tokens = values.tokens ? Number(values.tokens) : undefined;
const percent = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
const perToken = (us: number) => (tokens ? `${(us / tokens).toFixed(1).padStart(7)} µs/token` : "");
const keep = (name: string) => !values.match || name.includes(values.match);
function print(title: string, entries: Map<string, number>, filter = true): void {
  console.log(`\n${title}`);
  const sorted = [...entries].filter(([name]) => !filter || keep(name)).sort((a, b) => b[1] - a[1]);
  for (const [name, us] of sorted.slice(0, top)) console.log(`  ${percent(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms ${perToken(us)}  ${name}`);
}

const scope = values.under ? ` under "${values.under}"` : "";
console.log(`${positionals[0]}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy${scope} (percentages are of that)${tokens ? `, ${(busy / tokens).toFixed(0)} µs per token` : ""}`);
print("self time by package or folder", areas, false);
print("self time by function", self);
print("inclusive time by function", inclusive);
