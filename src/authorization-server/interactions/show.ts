// GET /interaction/:uid: the page for the step oidc-provider is waiting for.
import { PageError } from "../../web/errors.ts";
import { START_AGAIN } from "./types.ts";
import { pendingChange, SIGN_IN_AGAIN } from "./password-change.ts";
import { showConsent, showLogin, showPasswordChange, type PageDeps } from "./views.ts";
import type { Step } from "./types.ts";

export function show(deps: PageDeps): Step {
  return async function show(ctx) {
    const { interaction } = ctx.state;
    switch (interaction.prompt.name) {
      case "login": {
        // After a right password that must be changed, the page asks for the new one.
        const pending = await pendingChange(deps, interaction);
        if (pending.state === "pending") return showPasswordChange(ctx, deps, interaction, pending.user.username);
        return showLogin(ctx, deps, interaction, pending.state === "stale" ? { username: pending.username, error: SIGN_IN_AGAIN } : {});
      }
      case "consent":
        return showConsent(ctx, deps, interaction);
      default:
        throw new PageError(400, "invalid_request", `This sign-in step is not supported. ${START_AGAIN}`);
    }
  };
}
