// First step of every interaction route: no caching, and any failure becomes the HTML error page.
// oidc-provider errors marked expose (an expired interaction, a missing cookie) keep their code and
// description; anything else is logged and shown as a plain server_error.
import { errors } from "oidc-provider";
import { isDatabaseUnavailable } from "../../storage/index.ts";
import { log } from "../../shared/logger.ts";
import { sendPage } from "../pages.ts";
import { InteractionError, START_AGAIN } from "./errors.ts";
import type { Step } from "./types.ts";

interface Described {
  status: number;
  error: string;
  description: string;
}

function describe(failure: unknown): Described {
  if (failure instanceof InteractionError) return failure;
  if (failure instanceof errors.SessionNotFound) {
    return { status: failure.status, error: failure.error, description: `This sign-in has expired or was started in another browser. ${START_AGAIN}` };
  }
  if (failure instanceof errors.OIDCProviderError && failure.expose) {
    return { status: failure.status, error: failure.error, description: failure.error_description ?? "" };
  }
  if (isDatabaseUnavailable(failure)) {
    return { status: 503, error: "temporarily_unavailable", description: "The service is temporarily unavailable, try again shortly." };
  }
  return { status: 500, error: "server_error", description: "Something went wrong on our side. Try again later." };
}

export const handleErrors: Step = async function handleErrors(ctx, next) {
  ctx.set("Cache-Control", "no-store");
  try {
    await next();
  } catch (failure) {
    const page = describe(failure);
    if (page.status >= 500) log.error("interaction failed", { path: ctx.path, error: String((failure as Error)?.stack ?? failure) });
    else log.info("interaction refused", { path: ctx.path, reason: page.error, description: page.description });
    if (ctx.headerSent) return;
    await sendPage(ctx, "error", { title: "Something went wrong", error: page.error, description: page.description }, page.status);
  }
};
