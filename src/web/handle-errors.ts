// First step of every page route: no caching, and any failure becomes the HTML error page. oidc-provider
// errors marked expose (an expired interaction, a missing cookie) keep their code and description; a
// database outage is a 503; anything else is logged and shown as a plain server_error.
import type { Middleware } from "koa";
import { errors } from "oidc-provider";
import { isDatabaseUnavailable } from "../storage/index.ts";
import { log } from "../shared/logger.ts";
import { PageError } from "./errors.ts";
import { sendPage } from "./pages.ts";

interface Described {
  status: number;
  error: string;
  description: string;
}

/**
 * @param sessionLost what to tell someone whose sign-in expired or started in another browser
 */
export function handlePageErrors(sessionLost: string): Middleware {
  function describe(failure: unknown): Described {
    if (failure instanceof PageError) return failure;
    if (failure instanceof errors.SessionNotFound) return { status: failure.status, error: failure.error, description: sessionLost };
    if (failure instanceof errors.OIDCProviderError && failure.expose) {
      return { status: failure.status, error: failure.error, description: failure.error_description ?? "" };
    }
    if (isDatabaseUnavailable(failure)) {
      return { status: 503, error: "temporarily_unavailable", description: "The service is temporarily unavailable, try again shortly." };
    }
    return { status: 500, error: "server_error", description: "Something went wrong on our side. Try again later." };
  }

  return async function handlePageErrors(ctx, next) {
    ctx.set("Cache-Control", "no-store");
    try {
      await next();
    } catch (failure) {
      const page = describe(failure);
      if (page.status >= 500) log.error("page failed", { path: ctx.path, error: String((failure as Error)?.stack ?? failure) });
      else log.info("page refused", { path: ctx.path, reason: page.error, description: page.description });
      if (ctx.headerSent) return;
      if (page.status === 503) ctx.set("Retry-After", "5");
      await sendPage(ctx, "error", { title: "Something went wrong", error: page.error, description: page.description }, page.status);
    }
  };
}
