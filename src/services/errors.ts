// Errors the services raise for bad admin input; the CLI and the admin API print them as they are.
export class ValidationError extends Error {
  override name = "ValidationError";
}
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

import type { z } from "zod";

/** Parses input with a schema, failing with every bad field's path and reason. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ValidationError(result.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; "));
  }
  return result.data;
}
