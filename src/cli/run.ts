// Runs one command against the same configuration, database and services the server uses, and turns
// every failure into a one-line message and exit code 1.
import type { Command } from "commander";
import { loadConfig, type Config } from "../config/env.ts";
import { keyEncryptionSecret } from "../config/secrets.ts";
import { setLogLevel } from "../shared/logger.ts";
import { ValidationError } from "../services/errors.ts";
import { createServices, type Services } from "../services/index.ts";
import { openStorage, type Storage } from "../storage/index.ts";
import { snakeCaseFieldPaths } from "./field-names.ts";
import { printError, printResult, type Result } from "./output.ts";

export interface Context {
  config: Config;
  services: Services;
}

function describe(error: unknown): string {
  if (error instanceof ValidationError) return snakeCaseFieldPaths(error.message);
  return error instanceof Error ? error.message : String(error);
}

export async function run(command: Command, body: (context: Context) => Promise<Result>): Promise<void> {
  const json = Boolean(command.optsWithGlobals().json);
  let storage: Storage | undefined;
  try {
    const config = loadConfig();
    // The logger writes debug and info lines to stdout, which belongs to the command's result.
    if (config.LOG_LEVEL === "debug" || config.LOG_LEVEL === "info") setLogLevel("warn");
    const secret = keyEncryptionSecret(config);
    storage = await openStorage(config.DATABASE_URL);
    printResult(await body({ config, services: createServices(storage, secret) }), json);
  } catch (error) {
    printError(describe(error), json);
    process.exitCode = 1;
  } finally {
    await storage?.close();
  }
}
