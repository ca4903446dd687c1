// Runs one command against the same configuration, database and services the server uses, and turns
// every failure into a one-line message and exit code 1.
import os from "node:os";
import type { Command } from "commander";
import { loadConfig, type Config } from "../config/env.ts";
import { keyEncryptionSecret } from "../config/secrets.ts";
import { logToStderr, setLogLevel } from "../shared/logger.ts";
import type { Page } from "../services/paging.ts";
import { createServices, type Services } from "../services/index.ts";
import { openStorage, type Storage } from "../storage/index.ts";
import { printError, printResult, type OutputMode, type Result } from "./output.ts";

export interface Context {
  config: Config;
  services: Services;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Every page of a paged list, for commands that print all of it. */
export async function listAll<T>(list: (query: { offset: number; limit: number }) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for (let offset = 0; ; ) {
    const page = await list({ offset, limit: 500 });
    items.push(...page.items);
    offset += page.items.length;
    if (page.items.length === 0 || offset >= page.total) return items;
  }
}

export async function run(command: Command, body: (context: Context) => Promise<Result>): Promise<void> {
  const options = command.optsWithGlobals() as { json?: boolean; env?: string | true };
  const json = Boolean(options.json);
  const mode: OutputMode = json ? { kind: "json" } : options.env !== undefined ? { kind: "env", prefix: options.env === true ? "" : options.env } : { kind: "text" };
  let storage: Storage | undefined;
  try {
    const config = loadConfig();
    // stdout belongs to the command's result; log lines (warnings only, unless LOG_LEVEL says otherwise) go to stderr.
    logToStderr();
    setLogLevel(process.env.LOG_LEVEL ? config.LOG_LEVEL : "warn");
    // Writes are announced through Redis too when instances listen there (change-notifications.ts).
    storage = await openStorage(config.DATABASE_URL, { redis: config.REDIS_URL ? { url: config.REDIS_URL, prefix: config.REDIS_PREFIX } : undefined });
    // Only commands that seal or unseal (signing keys, outbound OAuth secrets) need KEY_ENCRYPTION_SECRET.
    const services = createServices(storage, {
      keyEncryptionSecret: () => keyEncryptionSecret(config),
      defaults: config,
      actor: { kind: "cli", name: os.userInfo().username },
    });
    printResult(await body({ config, services }), mode);
  } catch (error) {
    printError(describe(error), json);
    process.exitCode = 1;
  } finally {
    await storage?.close();
  }
}
