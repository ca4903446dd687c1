// Input checked at the boundary with the services' own schemas, failing with every bad value's field.
import { z } from "zod";
import { ValidationError, formatPath } from "../../services/errors.ts";

/**
 * @param unknownName how an unexpected key is called ("field", "query parameter")
 * @throws ValidationError naming each bad value; each unexpected key is its own field
 */
export function validate<T extends z.ZodType>(schema: T, value: unknown, unknownName = "field"): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({ field: formatPath([...issue.path, key]), message: `unknown ${unknownName}` }))
        : [{ field: formatPath(issue.path), message: issue.message }],
    ),
  );
}

type Unwrapped<T> = T extends z.ZodDefault<infer Inner> ? Inner : T;
type PatchShape<S extends z.ZodRawShape> = { [K in keyof S]: z.ZodOptional<Unwrapped<S[K]>> };

/**
 * The changes a PATCH may carry: every field of a resource's input optional and without its default, so
 * only the fields sent reach the service, which merges them into the current resource and checks the
 * whole again (rules that tie fields together included).
 */
export function patchOf<S extends z.ZodRawShape>(shape: S): z.ZodObject<PatchShape<S>, z.core.$strict> {
  const fields = Object.fromEntries(Object.entries(shape as unknown as Record<string, z.ZodType>).map(([name, field]) => [name, (field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field).optional()]));
  return z.object(fields).strict() as unknown as z.ZodObject<PatchShape<S>, z.core.$strict>;
}
