// The README's shell blocks, run as written, top to bottom, in one bash session against a fresh server:
// the documentation cannot drift from what Gatehouse does. Blocks are taken from README.md itself.
// A comment `<!-- readme-test: skip (...) -->` before a block leaves it out; `<!-- readme-test: sign in
// as USER, password "…", … sets CODE -->` does the browser's part of a code flow at the URL the previous
// block printed last. Every `# → …` line is an expected output: its parts between "…" must appear, in
// order, in what the commands before it printed. Ports 3000, 8080 and 4000 become free ones.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { freePort, startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { UserAgent } from "../helpers/user-agent.ts";

interface Block {
  /** The line of README.md the block starts on, for failure messages. */
  line: number;
  code: string;
  directive?: string;
}

/** The ```sh blocks of a Markdown file, each with the readme-test directive just before it, if any. */
export function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  let directive: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const comment = /^<!-- readme-test: (.*) -->$/.exec(lines[i]!);
    if (comment) {
      directive = comment[1];
      continue;
    }
    if (lines[i] !== "```sh") continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]!);
    blocks.push({ line: start + 1, code: body.join("\n"), directive });
    directive = undefined;
  }
  return blocks;
}

/** A bash session that runs one block at a time and returns what it printed and its exit status. */
class Shell {
  private readonly child: ChildProcessWithoutNullStreams;
  private output = "";
  private waiting: ((text: string) => void) | undefined;

  constructor(cwd: string, env: Record<string, string>) {
    this.child = spawn("bash", ["--noprofile", "--norc"], { cwd, env, detached: true });
    this.child.stdout.on("data", (chunk: Buffer) => this.received(chunk.toString()));
    this.child.stderr.on("data", (chunk: Buffer) => this.received(chunk.toString()));
  }

  private received(text: string): void {
    this.output += text;
    if (this.waiting && /__BLOCK_DONE_\d+__\n/.test(this.output)) this.waiting(this.output);
  }

  run(code: string): Promise<{ output: string; status: number }> {
    this.output = "";
    return new Promise((resolve) => {
      this.waiting = (text) => {
        this.waiting = undefined;
        const [, status] = /__BLOCK_DONE_(\d+)__\n/.exec(text)!;
        resolve({ output: text.replace(/__BLOCK_DONE_\d+__\n/, ""), status: Number(status) });
      };
      // In the session itself, not a subshell, so variables carry over to the next command.
      this.child.stdin.write(`${code}\n__status=$?\necho "__BLOCK_DONE_\${__status}__"\n`);
    });
  }

  /** Ends the session and anything it started in the background (the README's backend). */
  close(): void {
    try {
      process.kill(-this.child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

describe("the README's shell blocks", () => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  let shell: Shell;
  const readme = fs.readFileSync(path.resolve("README.md"), "utf8");

  beforeAll(async () => {
    db = await freshDatabase("sqlite");
    gatehouse = await startGatehouse(db);
  });

  afterAll(async () => {
    shell?.close();
    await gatehouse?.stop();
    await db?.drop();
  });

  test("run top to bottom against a fresh server and print what they say they print", async () => {
    const backendPort = await freePort();
    const ports: Array<[RegExp, string]> = [
      [/localhost:3000/g, `localhost:${gatehouse.port}`],
      [/localhost:8080/g, `localhost:${gatehouse.env.GATEWAY_PORT}`],
      [/127\.0\.0\.1:4000/g, `127.0.0.1:${backendPort}`],
      [/\.listen\(4000\)/g, `.listen(${backendPort}, "127.0.0.1")`],
    ];
    const env = {
      PATH: `${path.resolve("node_modules/.bin")}:${process.env.PATH ?? ""}`,
      HOME: db.dataDir,
      DATABASE_URL: db.url,
      DATA_DIR: db.dataDir,
      KEY_ENCRYPTION_SECRET: db.env.KEY_ENCRYPTION_SECRET!,
      COOKIE_SECRETS: db.env.COOKIE_SECRETS!,
      DPOP_NONCE_SECRET: db.env.DPOP_NONCE_SECRET!,
      // What the reader's second terminal has too (the same .env): where the server listens, for the samples.
      PORT: String(gatehouse.port),
      GATEWAY_PORT: gatehouse.env.GATEWAY_PORT!,
      ISSUER: gatehouse.issuer,
    };
    shell = new Shell(path.resolve("."), env);
    const blocks = shellBlocks(readme).filter((block) => !block.directive?.startsWith("skip"));
    expect(blocks.length).toBeGreaterThanOrEqual(4);

    let lastOutput = "";
    for (const block of blocks) {
      if (block.directive?.startsWith("sign in as")) {
        const [, username, password] = /^sign in as (\S+), password "([^"]+)"/.exec(block.directive)!;
        const url = [...lastOutput.matchAll(/^(http\S+\/authorize\?\S+)$/gm)].pop()?.[1];
        expect(url).toBeDefined();
        const agent = new UserAgent();
        const login = await agent.follow(url!, gatehouse.issuer);
        let result = await agent.submit(login.page!, { username: username!, password: password! }, gatehouse.issuer);
        if (result.page && /Allow access/.test(result.page.html)) result = await agent.submit(result.page, {}, gatehouse.issuer);
        const code = new URL(result.redirect!).searchParams.get("code");
        expect(code).toBeTruthy();
        await shell.run(`CODE='${code}'`);
      }
      let code = block.code;
      for (const [pattern, replacement] of ports) code = code.replace(pattern, replacement);
      // Each command on its own, so a failure names the command; `# → …` lines check what came before them.
      let printed = "";
      for (const line of code.replace(/\\\n/g, "").split("\n")) {
        const expected = /^# → (.*)$/.exec(line);
        if (expected) {
          const parts = expected[1]!.split("…").map((part) => part.trim()).filter(Boolean);
          let from = 0;
          for (const part of parts) {
            const at = printed.indexOf(part, from);
            if (at === -1) throw new Error(`README.md:${block.line}: expected ${JSON.stringify(part)} in:\n${printed}`);
            from = at + part.length;
          }
          printed = "";
          continue;
        }
        if (!line.trim() || line.trim().startsWith("#")) continue;
        const { output, status } = await shell.run(line);
        if (status !== 0) throw new Error(`README.md:${block.line}: \`${line}\` exited ${status}:\n${output}`);
        printed += output;
        lastOutput = output;
        // A server started in the background needs a moment to listen.
        if (/&\s*$/.test(line)) await new Promise((r) => setTimeout(r, 700));
      }
    }
  }, 180_000); // the whole README: about 40 commands, each `npx gatehouse` a process of its own
});
