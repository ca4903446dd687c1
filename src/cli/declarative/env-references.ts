// `${NAME}` in a string of the declarative file is replaced by that environment variable, so secrets
// and passwords stay out of the file. Resolved before validation, so the values are checked too.
//
// Except inside an API's outbound_oauth: there the references are stored as written and the gateway
// resolves them from its own environment at request time, so one file (and one database content) serves
// every deployment, and the outbound client secret need not be known where `apply` runs.
import { ValidationError } from "../../services/errors.ts";
import { formatPath } from "./file-schema.ts";

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Paths of the file whose references are left for the gateway: `apis[i].outbound_oauth...`. */
export function keptForGateway(path: readonly PropertyKey[]): boolean {
  return path[0] === "apis" && typeof path[1] === "number" && path[2] === "outbound_oauth";
}

export function resolveEnvReferences(
  value: unknown,
  env: NodeJS.ProcessEnv,
  keep: (path: readonly PropertyKey[]) => boolean = () => false,
  path: PropertyKey[] = [],
): unknown {
  if (keep(path)) return value;
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_, name: string) => {
      const resolved = env[name];
      if (resolved === undefined) throw new ValidationError(`${formatPath(path) || "file"}: environment variable ${name} is not set`);
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnvReferences(item, env, keep, [...path, i]));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvReferences(v, env, keep, [...path, k])]));
  }
  return value;
}
