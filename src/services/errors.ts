// Errors the services raise for bad admin input; the CLI and the admin API print them as they are.
export class ValidationError extends Error {
  override name = "ValidationError";
}
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

import type { z } from "zod";

/**
 * Parses input with a schema, failing with every bad field's path and reason.
 * @param field the name to report for a value that is not an object (e.g. "secret")
 * @throws ValidationError
 */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, field = "input"): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ValidationError(result.error.issues.map((i) => `${i.path.join(".") || field}: ${i.message}`).join("; "));
  }
  return result.data;
}
