// POST /interaction/:uid/login: checks the password (throttled, see credentials/) and finishes the login
// step with the user's id, or, when the user must change their password, remembers the check and shows
// the page that asks for a new one (password-change.ts). Every refusal reads the same whether or not the
// username exists.
import { log, securityEvent } from "../../shared/logger.ts";
import { rememberPasswordCheck } from "./password-change.ts";
import { showLogin, type PageDeps } from "./views.ts";
import type { InteractionDeps, Step } from "./types.ts";

export const INVALID_CREDENTIALS = "Invalid username or password.";

/** What a throttled person reads: nothing about whether the account exists, and when to try again. */
export function tooManyAttempts(retryAfterSeconds: number): string {
  const wait = retryAfterSeconds < 120 ? `${retryAfterSeconds} seconds` : `${Math.ceil(retryAfterSeconds / 60)} minutes`;
  return `Too many attempts. Try again in ${wait}.`;
}

export function login(deps: PageDeps & Pick<InteractionDeps, "credentials">): Step {
  const { provider, credentials } = deps;

  return async function login(ctx) {
    const { interaction, form } = ctx.state;
    const username = form.username ?? "";
    const check = await credentials.check({ username, address: ctx.ip }, form.password ?? "");

    if (check.outcome === "throttled") {
      securityEvent("login_throttled", { counter: check.counter, address: ctx.ip, retry_after: check.retryAfterSeconds, interaction: interaction.uid });
      ctx.set("Retry-After", String(check.retryAfterSeconds));
      return showLogin(ctx, deps, interaction, { username, error: tooManyAttempts(check.retryAfterSeconds), status: 429 });
    }
    if (check.outcome === "invalid") {
      log.info("sign-in refused", { reason: "invalid_credentials", ip: ctx.ip, interaction: interaction.uid });
      return showLogin(ctx, deps, interaction, { username, error: INVALID_CREDENTIALS, status: 400 });
    }
    if (check.user.passwordChangeRequired) {
      // The password was right but must be replaced first: remembered server-side, then the page that asks for the new one.
      log.info("password change required", { userId: check.user.id, ip: ctx.ip, interaction: interaction.uid });
      await rememberPasswordCheck(deps, ctx, check.user);
      ctx.status = 303;
      ctx.redirect(`/interaction/${encodeURIComponent(interaction.uid)}`);
      return;
    }
    log.info("signed in", { userId: check.user.id, ip: ctx.ip, interaction: interaction.uid });
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: check.user.id } }, { mergeWithLastSubmission: false });
  };
}
