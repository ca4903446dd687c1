// POST /interaction/:uid/login: checks the throttles, then the password, and finishes the login step
// with the user's id. Every refusal reads the same whether or not the username exists.
import { log } from "../../shared/logger.ts";
import { authenticate, MAX_USERNAME_LENGTH } from "./credentials.ts";
import { showLogin, type PageDeps } from "./views.ts";
import { LoginThrottle, type SignInAttempt } from "./throttle.ts";
import type { InteractionDeps, Step } from "./types.ts";

export const INVALID_CREDENTIALS = "Invalid username or password.";
export const TOO_MANY_ATTEMPTS = "Too many attempts, try again later.";

export function login(deps: PageDeps & Pick<InteractionDeps, "config">): Step {
  const { provider, storage, config } = deps;
  const throttle = new LoginThrottle(storage, { maxFailures: config.LOGIN_MAX_FAILURES, lockSeconds: config.LOGIN_LOCK_SECONDS });

  return async function login(ctx) {
    const { interaction, form } = ctx.state;
    const username = form.username ?? "";
    const user = username && username.length <= MAX_USERNAME_LENGTH ? await storage.users.findByUsername(username) : null;
    const attempt: SignInAttempt = { ip: ctx.ip, username, user };

    const lockedUntil = await throttle.lockedUntil(attempt);
    if (lockedUntil) {
      log.info("sign-in refused", { reason: "locked", ip: attempt.ip, interaction: interaction.uid });
      ctx.set("Retry-After", String(Math.max(1, Math.ceil((lockedUntil.getTime() - Date.now()) / 1000))));
      return showLogin(ctx, deps, interaction, { username, error: INVALID_CREDENTIALS, locked: true, status: 429 });
    }

    const account = await authenticate(user, form.password ?? "");
    if (!account) {
      await throttle.recordFailure(attempt);
      log.info("sign-in refused", { reason: "invalid_credentials", ip: attempt.ip, interaction: interaction.uid });
      return showLogin(ctx, deps, interaction, { username, error: INVALID_CREDENTIALS, status: 400 });
    }

    await throttle.recordSuccess(attempt.ip, account);
    log.info("signed in", { userId: account.id, ip: attempt.ip, interaction: interaction.uid });
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
  };
}
