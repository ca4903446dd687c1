// Starts a real Gatehouse process on a fresh database and a free port, and stops it after.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import type { FreshDatabase } from "./databases.ts";

export const NODE = path.resolve("node_modules/.bin/node");

export interface RunningGatehouse {
  issuer: string;
  port: number;
  /** The server's (primary) process id. */
  pid: number;
  env: Record<string, string>;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Ports freePort() has handed out in this process. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, never one this process was given before: once a probe's listener is
 * closed, Linux may give the same port to the next bind(0) (a gateway was once given its own
 * authorization server's port and failed to start with EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(issuer: string, child: ChildProcess, output: () => string): Promise<void> {
  // Generous: a start on a loaded CI machine (migrations, key generation, argon2) can take seconds.
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gatehouse exited with ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(`${issuer}/.well-known/openid-configuration`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gatehouse did not start:\n${output()}`);
}

export async function startGatehouse(db: FreshDatabase, extraEnv: Record<string, string> = {}): Promise<RunningGatehouse> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const env = {
    ...db.env,
    PORT: String(port),
    GATEWAY_PORT: String(await freePort()),
    HOST: "127.0.0.1",
    ISSUER: issuer,
    CONFIG_POLL_MS: "100",
    ADMIN_PASSWORD: "admin-password-for-tests",
    ...extraEnv,
  };
  const child = spawn(NODE, ["--disable-warning=DEP0060", "src/main.ts"], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const output = () => log;
  await waitUntilReady(issuer, child, output);
  return {
    issuer,
    port,
    pid: child.pid!,
    env,
    output,
    stop: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** Waits for a running instance to pick up configuration written by another process. */
export const configPropagation = () => new Promise((r) => setTimeout(r, 400));
