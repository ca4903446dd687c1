// Runs the real `gatehouse` command in a child process, as an operator would, against a test database.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { unseal } from "../../src/services/sealing.ts";
import { openStorage } from "../../src/storage/index.ts";
import { freshDatabase, type Backend, type FreshDatabase } from "../helpers/databases.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The project's own Node 24 (from the `node` devDependency): the system node cannot run .ts files.
const NODE = path.join(root, "node_modules/.bin/node");
const MAIN = path.join(root, "src/cli/main.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  env?: Record<string, string>;
}

export type Gatehouse = ((...args: string[]) => Promise<CliResult>) & {
  with(options: RunOptions, ...args: string[]): Promise<CliResult>;
  /** Runs with --json, expects success and returns the parsed stdout. */
  json<T = any>(...args: string[]): Promise<T>;
};

/** A `gatehouse` bound to one database's environment; it runs in that database's data directory, away from any .env. */
function gatehouseFor(env: Record<string, string>, cwd: string): Gatehouse {
  const run = (options: RunOptions, args: string[]) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn(NODE, [MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? "", ...env, ...options.env } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(options.stdin ?? "");
    });
  const gatehouse = (...args: string[]) => run({}, args);
  gatehouse.with = (options: RunOptions, ...args: string[]) => run(options, args);
  gatehouse.json = async (...args: string[]) => {
    const result = await run({}, [...args, "--json"]);
    if (result.code !== 0) throw new Error(`gatehouse ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  return gatehouse;
}

/** The `gatehouse` command against an existing test database (say, one a running server uses). */
export function gatehouseCli(db: FreshDatabase, env: Record<string, string> = {}): Gatehouse {
  return gatehouseFor({ ...db.env, ...env }, db.dataDir);
}

/** A failure as the CLI must report it: exit code 1, one `error:` line and no stack trace. */
export function expectCleanFailure(result: CliResult, message: string | RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^error: .+\n$/);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

/** Gives the enclosing describe block its own fresh database and a `gatehouse` using it. */
export function freshGatehouse(backend: Backend): { db: FreshDatabase; gatehouse: Gatehouse } {
  const context = {} as { db: FreshDatabase; gatehouse: Gatehouse };
  beforeAll(async () => {
    context.db = await freshDatabase(backend);
    context.gatehouse = gatehouseFor(context.db.env, context.db.dataDir);
  });
  afterAll(() => context.db?.drop());
  return context;
}

/**
 * An API's outbound client secret as stored, read past the CLI: the sealed value (which no output may
 * contain either) and what it seals.
 */
export async function storedOutboundSecret(db: FreshDatabase, identifier: string): Promise<{ sealed: string; plaintext: string }> {
  const storage = await openStorage(db.url);
  try {
    const sealed = (await storage.apis.find(identifier))?.policies.outbound_oauth?.client_secret_sealed as string | undefined;
    if (!sealed) throw new Error(`api ${identifier} has no outbound client secret`);
    return { sealed, plaintext: unseal(sealed, db.env.KEY_ENCRYPTION_SECRET!, "outbound-client-secret") };
  } finally {
    await storage.close();
  }
}
