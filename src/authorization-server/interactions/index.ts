// The sign-in, required password change and consent pages oidc-provider sends browsers to
// (interactions.url is /interaction/:uid).
// Each route lists its steps in order; mount with provider.use(interactionRoutes(...)).
import Router from "@koa/router";
import type { Middleware } from "koa";
import { checkCsrf, checkOrigin, CsrfTokens } from "../../web/csrf.ts";
import { PageError } from "../../web/errors.ts";
import { readForm } from "../../web/form.ts";
import { handlePageErrors } from "../../web/handle-errors.ts";
import { abort } from "./abort.ts";
import { confirmConsent } from "./consent.ts";
import { loadInteraction, requirePrompt } from "./load-interaction.ts";
import { login } from "./login.ts";
import { changePassword } from "./password-change.ts";
import { allowClientRedirects } from "./redirect-targets.ts";
import { show } from "./show.ts";
import { START_AGAIN, type InteractionDeps, type InteractionState, type Step } from "./types.ts";

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
  const csrf = new CsrfTokens(Array.isArray(provider.keys) ? provider.keys : [], "interaction");
  const pageDeps = { ...deps, csrf };
  const forged = () => new PageError(403, "invalid_request", `This form has expired or was not sent from this site. ${START_AGAIN}`);
  const handleErrors = handlePageErrors(`This sign-in has expired or was started in another browser. ${START_AGAIN}`) as unknown as Step;
  const web = (middleware: unknown) => middleware as Step;

  const page = [handleErrors, loadInteraction(deps)];
  const form = [
    handleErrors,
    web(checkOrigin(config.ISSUER, forged)),
    loadInteraction(deps),
    web(readForm()),
    web(checkCsrf(csrf, (ctx) => (ctx.state as InteractionState).interaction.uid, forged)),
  ];

  const router = new Router<InteractionState>();
  router.get("/interaction/:uid", ...page, show(pageDeps));
  router.post("/interaction/:uid/login", ...form, requirePrompt("login"), login(pageDeps));
  router.post("/interaction/:uid/password", ...form, requirePrompt("login"), changePassword(pageDeps));
  router.post("/interaction/:uid/confirm", ...form, requirePrompt("consent"), confirmConsent(deps));
  router.get("/interaction/:uid/abort", ...page, abort(deps));
  router.post("/interaction/:uid/abort", ...form, abort(deps));

  // The router fills in ctx.params itself; its type just expects them already there.
  const routes = router.routes() as unknown as Middleware;
  // Only /interaction/ paths can match: every other request (each token request) skips the router's matching.
  const interactions: Middleware = (ctx, next) => (ctx.path.startsWith("/interaction/") ? routes(ctx, next) : next());
  return chain(allowClientRedirects, interactions);
}
