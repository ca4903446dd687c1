// Reads an application/x-www-form-urlencoded body: at most 16 KB, every field once. A repeated field is
// refused rather than guessed at (which copy would the checks and the handler each see?), except the
// names a form sends as lists (checkboxes, multiple selects), which a route declares.
import type { IncomingMessage } from "node:http";
import type { Middleware } from "koa";
import { PageError } from "./errors.ts";

export const FORM_LIMIT_BYTES = 16 * 1024;

/** A parsed form: each field's value, or its values for the fields declared as lists. */
export type FormFields = Readonly<Record<string, string>>;

const tooLarge = () => new PageError(413, "invalid_request", "The form was too large.");

/**
 * Parses a urlencoded body.
 * @param lists field names that may repeat; their values are joined with "\n"
 * @throws PageError on a repeated field name not in lists
 */
export function parseForm(raw: string, lists: ReadonlySet<string> = new Set()): FormFields {
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(raw)) {
    if (Object.hasOwn(fields, name)) {
      if (!lists.has(name)) throw new PageError(400, "invalid_request", `The form field "${name}" was sent more than once.`);
      fields[name] += `\n${value}`;
    } else fields[name] = value;
  }
  return fields;
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  if (Number(req.headers["content-length"] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads the form into ctx.state.form; 415 for another content type, 413 when over the limit. */
export function readForm({ limit = FORM_LIMIT_BYTES, lists = [] as readonly string[] } = {}): Middleware<{ form: FormFields }> {
  const listed = new Set(lists);
  return async function readForm(ctx, next) {
    // ctx.is answers null when there is no body at all: an empty form.
    const type = ctx.is("application/x-www-form-urlencoded");
    if (type === false) throw new PageError(415, "invalid_request", "The form was not sent as a web form.");
    try {
      ctx.state.form = parseForm(type === null ? "" : await readBody(ctx.req, limit), listed);
    } catch (failure) {
      if (failure instanceof PageError && failure.status === 413) ctx.set("Connection", "close");
      throw failure;
    }
    await next();
  };
}
