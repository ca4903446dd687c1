// Reads a declarative file (YAML, or JSON, which is YAML too), resolves `${NAME}` references (except
// those left for the gateway, see env-references.ts) and validates it, failing with the path of every bad value.
import fs from "node:fs/promises";
import YAML from "yaml";
import { ValidationError } from "../../services/errors.ts";
import { readStdin } from "../stdin.ts";
import { keptForGateway, resolveEnvReferences } from "./env-references.ts";
import { declarativeFileSchema, formatPath, type DeclarativeFile } from "./file-schema.ts";

function parseYaml(text: string, name: string): unknown {
  try {
    return YAML.parse(text) ?? {};
  } catch (error) {
    // The parser's message continues with an excerpt of the file over several lines; its first line says where.
    throw new ValidationError(`${name}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** `file` is a path, or `-` for standard input. */
export async function loadDeclarativeFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<DeclarativeFile> {
  const text = file === "-" ? await readStdin() : await fs.readFile(file, "utf8");
  const parsed = declarativeFileSchema.safeParse(resolveEnvReferences(parseYaml(text, file), env, keptForGateway));
  if (!parsed.success) {
    throw new ValidationError(parsed.error.issues.map((i) => `${formatPath(i.path) || "file"}: ${i.message}`).join("; "));
  }
  return parsed.data;
}
