// Child processes for the gateway benchmark (gateway.ts): started with a bounded wait until they
// are ready, their output kept for error messages, and all of them stopped at the end however the
// run ends. Also reads what /proc says about a process (CPU time, resident memory).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, for /proc/<pid>/stat

export interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  /** The last 20 kB of stdout and stderr (lines claimed by a line handler excepted). */
  output(): string;
  /** Resolves with the first output line matching pattern; rejects if the child exits or time runs out. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited(): boolean;
}

const children: Child[] = [];

/**
 * Starts a child. onLine sees every complete output line first; returning true keeps the line out
 * of output() (for machine-readable lines such as query counts).
 */
export function startChild(name: string, command: string, args: string[], env: Record<string, string>, onLine?: (line: string) => boolean): Child {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const waiters: Array<{ pattern: RegExp; resolve: (match: RegExpMatchArray) => void }> = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = "";
    stream.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (onLine?.(line)) continue;
        log = (log + line + "\n").slice(-20_000);
        for (const waiter of [...waiters]) {
          const match = waiter.pattern.exec(line);
          if (match) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(match);
          }
        }
      }
    });
  }
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  const handle: Child = {
    name,
    process: child,
    pid: child.pid ?? -1,
    output: () => log,
    exited: () => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined,
    waitForLine: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const waiter = {
          pattern,
          resolve: (match: RegExpMatchArray) => {
            cleanup();
            resolve(match);
          },
        };
        const fail = (why: string) => {
          cleanup();
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${name} ${why}:\n${log}`));
        };
        const onExit = (code: number | null, signal: string | null) => fail(`exited (${code ?? signal}) before it was ready`);
        const onError = (error: Error) => fail(`could not start: ${error.message}`);
        const timer = setTimeout(() => fail(`was not ready after ${timeoutMs} ms`), timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.off("exit", onExit);
          child.off("error", onError);
        };
        waiters.push(waiter);
        child.once("exit", onExit);
        child.once("error", onError);
      }),
  };
  children.push(handle);
  return handle;
}

/** Stops one child: SIGTERM, then SIGKILL after graceMs (a profiled process needs a moment to write its profile). */
export function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exited()) return resolve();
    const kill = setTimeout(() => child.process.kill("SIGKILL"), graceMs);
    child.process.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.process.kill("SIGTERM");
  });
}

/** Stops every child this module started (only those). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all(children.map((child) => stopChild(child)));
}

/** CPU seconds a live process has used so far (user + system). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds all processes on the machine have used so far (everything but idle and iowait). */
export function machineCpuSeconds(): number {
  const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory now (VmRSS) and its peak over the process's life (VmHWM), in MB (2^20 bytes). */
export function memoryMB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kB("VmRSS") / 1024, peak: kB("VmHWM") / 1024 };
}
