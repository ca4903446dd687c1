// How a console form's string fields become a service's input. Each form has a schema listing exactly
// the fields it may set (anything else the browser sends is dropped, so a form can never set more than
// it shows), parsed at the boundary with the same {field, message} errors the services give; the
// service's own schema then checks the values.
import { z } from "zod";
import type { FormFields } from "../../web/form.ts";
import { parseInput } from "../../services/errors.ts";

const raw = z.string().optional();

/** Text; trimmed, "" when absent. */
export const text = raw.transform((v) => (v ?? "").trim());

/** Text, or null when left empty. */
export const optionalText = raw.transform((v) => (v ?? "").trim() || null);

/** One entry per line (textareas of URIs, client ids), blank lines ignored. */
export const lines = raw.transform((v) => (v ?? "").split(/\r?\n/).map((s) => s.trim()).filter(Boolean));

/** Words separated by spaces or commas (scope lists). */
export const words = raw.transform((v) => (v ?? "").split(/[\s,]+/).filter(Boolean));

/** A field the form sends as a list (checkboxes, multiple selects): readForm joins the values with "\n". */
export const picked = raw.transform((v) => (v ? v.split("\n").filter(Boolean) : []));

/** A checkbox: sent (any value) or not. */
export const checkbox = raw.transform((v) => v !== undefined);

/** A whole number of at least `min`, or null when left empty. */
export const optionalInteger = (min = 0) =>
  raw.transform((v, ctx) => {
    const value = (v ?? "").trim();
    if (value === "") return null;
    if (!/^\d+$/.test(value) || Number(value) < min) {
      ctx.addIssue({ code: "custom", message: min > 0 ? "must be a whole number above zero" : "must be a whole number" });
      return z.NEVER;
    }
    return Number(value);
  });

/** A whole number; required. */
export const integer = (min = 0) =>
  optionalInteger(min).transform((v, ctx) => {
    if (v === null) {
      ctx.addIssue({ code: "custom", message: "required" });
      return z.NEVER;
    }
    return v;
  });

/** A JSON value typed into a textarea, or null when left empty. */
export const optionalJson = raw.transform((v, ctx) => {
  const value = (v ?? "").trim();
  if (value === "") return null;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    ctx.addIssue({ code: "custom", message: "must be valid JSON" });
    return z.NEVER;
  }
});

/**
 * Reads a form with its schema: only the fields the schema lists.
 * @throws ValidationError with the form's field names
 */
export function readFields<T extends z.ZodType>(schema: T, form: FormFields): z.infer<T> {
  return parseInput(schema, form);
}
