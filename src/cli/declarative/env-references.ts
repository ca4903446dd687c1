// `${NAME}` in any string of the declarative file is replaced by that environment variable, so secrets
// and passwords stay out of the file. Resolved before validation, so the values are checked too.
import { ValidationError } from "../../services/errors.ts";
import { formatPath } from "./file-schema.ts";

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function resolveEnvReferences(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[] = []): unknown {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_, name: string) => {
      const resolved = env[name];
      if (resolved === undefined) throw new ValidationError(`${formatPath(path) || "file"}: environment variable ${name} is not set`);
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnvReferences(item, env, [...path, i]));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvReferences(v, env, [...path, k])]));
  }
  return value;
}
