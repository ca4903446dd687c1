// Reads a request's JSON body: application/json (or a +json type) only, at most MAX_BODY_BYTES, and a
// JSON object. No body at all reads as undefined.
import type { Context } from "koa";
import { Problem } from "./problems.ts";

const JSON_TYPES = ["application/json", "application/*+json"];

/** Does the request carry a body (RFC 9112 §6.3: a Content-Length above 0, or chunked)? */
function hasBody(ctx: Context): boolean {
  return ctx.get("Transfer-Encoding") !== "" || (ctx.request.length ?? 0) > 0;
}

/**
 * @param limit the largest body read, in bytes
 * @throws Problem 415 for another content type, 413 over the limit, 400 for malformed JSON or a body that is not an object
 */
export async function readJsonObject(ctx: Context, limit: number): Promise<Record<string, unknown> | undefined> {
  if (!hasBody(ctx)) return undefined;
  if (!ctx.is(JSON_TYPES)) throw new Problem(415, "unsupported_media_type", "the body must be JSON, sent as Content-Type: application/json");
  // The rest of an unread body is not worth receiving: the connection closes after the answer.
  const tooLarge = () => new Problem(413, "payload_too_large", `the body is larger than ${limit} bytes`, { headers: { Connection: "close" } });
  if ((ctx.request.length ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    throw new Problem(400, "malformed_json", `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Problem(400, "invalid_input", "the body must be a JSON object", { extra: { errors: [{ field: "", message: "must be a JSON object" }] } });
  return value as Record<string, unknown>;
}
