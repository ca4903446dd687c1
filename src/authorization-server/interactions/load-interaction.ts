// Loads the interaction the browser's cookie points at and checks it is the one in the URL (a second tab
// or an old bookmark would otherwise act on a different sign-in).
import { PageError } from "../../web/errors.ts";
import { START_AGAIN } from "./types.ts";
import type { InteractionDeps, Step } from "./types.ts";

export function loadInteraction({ provider }: Pick<InteractionDeps, "provider">): Step {
  return async function loadInteraction(ctx, next) {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== ctx.params.uid) {
      throw new PageError(400, "invalid_request", `This sign-in page is out of date. ${START_AGAIN}`);
    }
    ctx.state.interaction = interaction;
    await next();
  };
}

/** Refuses a form meant for another step (e.g. a login form re-posted after login succeeded). */
export function requirePrompt(name: "login" | "consent"): Step {
  return async function requirePrompt(ctx, next) {
    if (ctx.state.interaction.prompt.name !== name) {
      throw new PageError(400, "invalid_request", `This form was already submitted. ${START_AGAIN}`);
    }
    await next();
  };
}
