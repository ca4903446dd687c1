// The sign-in and consent pages oidc-provider sends browsers to (interactions.url is /interaction/:uid).
// Each route lists its steps in order; mount with provider.use(interactionRoutes(...)).
import Router from "@koa/router";
import type { Middleware } from "koa";
import { serveAssets } from "../pages.ts";
import { abort } from "./abort.ts";
import { confirmConsent } from "./consent.ts";
import { checkCsrf, checkOrigin, CsrfTokens } from "./csrf.ts";
import { readForm } from "./form.ts";
import { handleErrors } from "./handle-errors.ts";
import { loadInteraction, requirePrompt } from "./load-interaction.ts";
import { login } from "./login.ts";
import { allowClientRedirects } from "./redirect-targets.ts";
import { show } from "./show.ts";
import type { InteractionDeps, InteractionState } from "./types.ts";

export type { InteractionDeps } from "./types.ts";

/** Runs middleware in order, each calling the next; the last one's next is the caller's. */
function chain(...middleware: Middleware[]): Middleware {
  return async function chained(ctx, next) {
    const run = async (index: number): Promise<void> => {
      const step = middleware[index];
      await (step ? step(ctx, () => run(index + 1)) : next());
    };
    await run(0);
  };
}

export function interactionRoutes(deps: InteractionDeps): Middleware {
  const { provider, config } = deps;
  // The provider's cookie secrets (configuration cookies.keys) also key the CSRF tokens.
  const csrf = new CsrfTokens(Array.isArray(provider.keys) ? provider.keys : []);
  const pageDeps = { ...deps, csrf };

  const page = [handleErrors, loadInteraction(deps)];
  const form = [handleErrors, checkOrigin(config.ISSUER), loadInteraction(deps), readForm(), checkCsrf(csrf)];

  const router = new Router<InteractionState>();
  router.get("/interaction/:uid", ...page, show(pageDeps));
  router.post("/interaction/:uid/login", ...form, requirePrompt("login"), login(pageDeps));
  router.post("/interaction/:uid/confirm", ...form, requirePrompt("consent"), confirmConsent(deps));
  router.get("/interaction/:uid/abort", ...page, abort(deps));
  router.post("/interaction/:uid/abort", ...form, abort(deps));

  // The router fills in ctx.params itself; its type just expects them already there.
  return chain(serveAssets(), allowClientRedirects, router.routes() as unknown as Middleware);
}
