// GET /interaction/:uid: the page for the step oidc-provider is waiting for.
import { PageError } from "../../web/errors.ts";
import { START_AGAIN } from "./types.ts";
import { showConsent, showLogin, type PageDeps } from "./views.ts";
import type { Step } from "./types.ts";

export function show(deps: PageDeps): Step {
  return async function show(ctx) {
    const { interaction } = ctx.state;
    switch (interaction.prompt.name) {
      case "login":
        return showLogin(ctx, deps, interaction);
      case "consent":
        return showConsent(ctx, deps, interaction);
      default:
        throw new PageError(400, "invalid_request", `This sign-in step is not supported. ${START_AGAIN}`);
    }
  };
}
