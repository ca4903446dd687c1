// How the admin API refuses: RFC 9457 problem details, one shape for every refusal. Services' errors keep
// their code, status and message (the CLI prints the same message), bad input names its fields, and
// anything unexpected is logged and answered with a bare server_error, never a stack trace.
import type { Context, Middleware } from "koa";
import { z } from "zod";
import { ServiceError, ValidationError } from "../../services/errors.ts";
import { isDatabaseUnavailable } from "../../storage/index.ts";
import { log } from "../../shared/logger.ts";
import { PageError } from "../../web/errors.ts";

export const PROBLEM_TYPE_BASE = "https://gatehouse.dev/problems/";

/** A refusal made by the API itself (authentication, content type, size, routing). */
export class Problem extends Error {
  override name = "Problem";
  readonly status: number;
  readonly code: string;
  /** Members beyond the standard ones, e.g. `errors` for bad input. */
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, detail: string, { extra = {}, headers = {} }: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

/** The body of every error response (application/problem+json). */
export const problemSchema = z
  .object({
    type: z.url(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    /** For 400 invalid_input: each bad value, by its path in the input as sent. */
    errors: z.array(z.object({ field: z.string(), message: z.string() }).strict()).optional(),
  })
  .strict();

function describe(error: unknown, ctx: Context): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof ValidationError) return new Problem(400, error.code, error.message, { extra: { errors: error.issues } });
  if (error instanceof ServiceError) return new Problem(error.status, error.code, error.message);
  // The console's origin and CSRF checks (web/csrf.ts) refuse with a PageError.
  if (error instanceof PageError) return new Problem(error.status, error.error, error.description);
  if (isDatabaseUnavailable(error)) {
    return new Problem(503, "temporarily_unavailable", "the database is unavailable, try again shortly", { headers: { "Retry-After": "5" } });
  }
  log.error("admin API failure", { method: ctx.method, path: ctx.path, error: String((error as Error)?.stack ?? error) });
  return new Problem(500, "server_error", "the request could not be handled");
}

export function sendProblem(ctx: Context, problem: Problem): void {
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.status = problem.status;
  ctx.type = "application/problem+json";
  ctx.body = { type: `${PROBLEM_TYPE_BASE}${problem.code}`, title: problem.code.replaceAll("_", " "), status: problem.status, detail: problem.message, ...problem.extra };
}

/** The API's first step: nothing is cached, and every failure becomes a problem. */
export const handleProblems: Middleware = async function handleProblems(ctx, next) {
  ctx.set("Cache-Control", "no-store");
  try {
    await next();
  } catch (error) {
    if (ctx.headerSent) return;
    sendProblem(ctx as unknown as Context, describe(error, ctx as unknown as Context));
  }
};
