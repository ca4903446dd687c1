// Reads an application/x-www-form-urlencoded body: at most 16 KB, every field once. A repeated field is
// refused rather than guessed at (which copy would the checks and the handler each see?).
import type { IncomingMessage } from "node:http";
import { InteractionError } from "./errors.ts";
import type { FormFields, Step } from "./types.ts";

export const FORM_LIMIT_BYTES = 16 * 1024;

const tooLarge = () => new InteractionError(413, "invalid_request", "The form was too large.");

/** Parses a urlencoded body; throws on a repeated field name. */
export function parseForm(raw: string): FormFields {
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(raw)) {
    if (Object.hasOwn(fields, name)) throw new InteractionError(400, "invalid_request", `The form field "${name}" was sent more than once.`);
    fields[name] = value;
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

export function readForm(limit = FORM_LIMIT_BYTES): Step {
  return async function readForm(ctx, next) {
    // ctx.is answers null when there is no body at all: an empty form.
    const type = ctx.is("application/x-www-form-urlencoded");
    if (type === false) throw new InteractionError(415, "invalid_request", "The form was not sent as a web form.");
    try {
      ctx.state.form = parseForm(type === null ? "" : await readBody(ctx.req, limit));
    } catch (failure) {
      if (failure instanceof InteractionError && failure.status === 413) ctx.set("Connection", "close");
      throw failure;
    }
    await next();
  };
}
