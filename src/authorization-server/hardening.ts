// Request hygiene in front of every endpoint: oversized bodies are refused before they are read, and
// a database outage answers 503 (temporarily_unavailable) instead of oidc-provider's generic 500.
import type { Context, Next } from "koa";
import type { Config } from "../config/env.ts";
import { isDatabaseUnavailable } from "../storage/index.ts";
import { log } from "../shared/logger.ts";

export function protocolHardening(config: Pick<Config, "MAX_BODY_BYTES">) {
  return async function hardening(ctx: Context, next: Next): Promise<void> {
    const length = Number(ctx.get("content-length") || 0);
    if (length > config.MAX_BODY_BYTES) {
      ctx.status = 413;
      ctx.body = { error: "invalid_request", error_description: "request body too large" };
      ctx.set("Connection", "close");
      return;
    }
    try {
      await next();
    } catch (error) {
      // Errors oidc-provider did not handle itself (our own middleware, body streams).
      ctx.state.serverError = error;
      ctx.status = 500;
      ctx.body = { error: "server_error", error_description: "oops! something went wrong" };
    }
    const failure = ctx.state.serverError as unknown;
    if (failure && ctx.status >= 500) {
      if (isDatabaseUnavailable(failure)) {
        log.error("database unavailable", { path: ctx.path, error: String((failure as Error).message ?? failure) });
        ctx.status = 503;
        ctx.set("Retry-After", "5");
        ctx.body = { error: "temporarily_unavailable", error_description: "the service is temporarily unavailable, try again shortly" };
      } else {
        log.error("server error", { path: ctx.path, error: String((failure as Error).stack ?? failure) });
      }
    }
  };
}
