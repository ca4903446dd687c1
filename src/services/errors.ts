// How the services refuse: one class per outcome, each with a stable code and the HTTP status the admin
// API answers with (RFC 9457 problem details), and for bad input a list of {field, message} in the
// public (snake_case) field names of the resource, so a form can mark the failing field and the CLI can
// print the same line. Every front end (CLI, declarative file, admin API, console) shows these as they are.
import type { z } from "zod";

/** One bad value: `field` is its path in the input as the client wrote it, e.g. `redirect_uris[0]`. */
export interface FieldIssue {
  field: string;
  message: string;
}

export abstract class ServiceError extends Error {
  /** Stable id of the refusal, e.g. "invalid_input". */
  abstract readonly code: string;
  /** The HTTP status the admin API answers with. */
  abstract readonly status: number;
}

/** 400: the input does not satisfy the resource's schema or rules. */
export class ValidationError extends ServiceError {
  override name = "ValidationError";
  readonly code = "invalid_input";
  readonly status = 400;
  readonly issues: FieldIssue[];

  /** @param issues the bad values, or a message about the whole input */
  constructor(issues: FieldIssue[] | string) {
    const list = typeof issues === "string" ? [{ field: "", message: issues }] : issues;
    super(list.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "));
    this.issues = list;
  }

  /** The same issues, each field prefixed (e.g. with the entry of a declarative file: `clients[2]`). */
  within(prefix: string): ValidationError {
    return new ValidationError(this.issues.map((i) => ({ field: i.field ? joinPath(prefix, i.field) : prefix, message: i.message })));
  }
}

/** 404: no such entity. */
export class NotFoundError extends ServiceError {
  override name = "NotFoundError";
  readonly code = "not_found";
  readonly status = 404;
}

/** 409: an entity with that identity exists already, or a concurrent change of the same entities landed first (a key rotation). */
export class ConflictError extends ServiceError {
  override name = "ConflictError";
  readonly code = "conflict";
  readonly status = 409;
}

/** 412: the entity changed since the version the caller based its change on (If-Match). */
export class PreconditionFailedError extends ServiceError {
  override name = "PreconditionFailedError";
  readonly code = "precondition_failed";
  readonly status = 412;
}

/** `clients[2]` + `redirect_uris[0]` → `clients[2].redirect_uris[0]`. */
function joinPath(prefix: string, field: string): string {
  return field.startsWith("[") ? `${prefix}${field}` : `${prefix}.${field}`;
}

/** `["redirect_uris", 0]` → `redirect_uris[0]`: a value's path as it is written in JSON or YAML. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/**
 * Parses input with a schema, failing with every bad value's path and reason.
 * @param field the name to report for a value that is not an object (e.g. "client_secret")
 * @throws ValidationError
 */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, field = ""): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ValidationError(result.error.issues.map((i) => ({ field: formatPath(i.path) || field, message: i.message })));
  }
  return result.data;
}
