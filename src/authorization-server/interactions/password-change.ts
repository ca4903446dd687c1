// The required password change (Keycloak's "Update Password"): a user whose password was generated or
// set as temporary (password_change_required) gives it on the login page, then must choose a new one
// before the login step finishes.
//
// That the password check passed is remembered on the server, in the interaction's own result
// (provider.interactionResult, read back with interactionDetails): which user, a fingerprint of the hash
// that was accepted, and when. Nothing of it reaches the browser, which only ever holds the interaction
// cookie; the old password is never in a page. The form carries the interaction's CSRF token and must
// come from the issuer's origin, exactly as the login form. Its POST finishes the login as the login
// page does, once the new password is stored.
import type { Context } from "koa";
import type { Interaction } from "oidc-provider";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import { passwordFingerprint } from "../../services/passwords.ts";
import { passwordSchema } from "../../services/users.ts";
import { log } from "../../shared/logger.ts";
import type { UserRecord } from "../../storage/index.ts";
import { PageError } from "../../web/errors.ts";
import { START_AGAIN } from "./types.ts";
import type { InteractionDeps, Step } from "./types.ts";
import { showLogin, showPasswordChange, type PageDeps, type PasswordChangeErrors } from "./views.ts";

/** The key of the marker in the interaction's result; oidc-provider reads only login, consent and error. */
const MARKER = "gatehouse_password_change";
/** How long after the password check the new one may be chosen. */
export const PASSWORD_CHANGE_WINDOW_SECONDS = 600;
/** What the login page says when the check no longer holds (too old, or the account changed since). */
export const SIGN_IN_AGAIN = "Sign in again with your current password.";

interface Marker {
  accountId: string;
  /** passwordFingerprint of the hash the check accepted. */
  checked: string;
  /** When the check passed, in seconds since the epoch. */
  at: number;
}

const now = () => Math.floor(Date.now() / 1000);

function markerOf(interaction: Interaction): Marker | undefined {
  const value = (interaction.result as Record<string, unknown> | undefined)?.[MARKER];
  if (!value || typeof value !== "object") return undefined;
  const { accountId, checked, at } = value as Record<string, unknown>;
  return typeof accountId === "string" && typeof checked === "string" && typeof at === "number" ? { accountId, checked, at } : undefined;
}

/**
 * Remembers in the interaction that `user` passed the password check and must now choose a new one,
 * replacing anything an earlier attempt stored. The caller then sends the browser to the interaction's page.
 */
export async function rememberPasswordCheck(deps: Pick<InteractionDeps, "provider">, ctx: Context, user: UserRecord): Promise<void> {
  const marker: Marker = { accountId: user.id, checked: passwordFingerprint(user.passwordHash), at: now() };
  await deps.provider.interactionResult(ctx.req, ctx.res, { [MARKER]: marker }, { mergeWithLastSubmission: false });
}

export type PendingChange = { state: "pending"; user: UserRecord; marker: Marker } | { state: "stale"; username?: string } | { state: "none" };

/**
 * Whether this interaction's user passed the password check and may choose a new password now: the
 * marker is there, recent, and the user still exists, is enabled, still must change the password, and has
 * the very password that was checked.
 */
export async function pendingChange(deps: Pick<InteractionDeps, "storage">, interaction: Interaction): Promise<PendingChange> {
  const marker = markerOf(interaction);
  if (!marker) return { state: "none" };
  const user = await deps.storage.users.findById(marker.accountId);
  const valid =
    user?.enabled && user.passwordChangeRequired && passwordFingerprint(user.passwordHash) === marker.checked && now() - marker.at <= PASSWORD_CHANGE_WINDOW_SECONDS;
  return valid ? { state: "pending", user, marker } : { state: "stale", username: user?.username };
}

/** Ends a sentence the way the page shows it: capitalized, with a full stop. */
function sentence(message: string): string {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** The rules the services apply, checked here first so both fields can be marked at once. */
function formErrors(password: string, repeated: string): PasswordChangeErrors {
  const errors: PasswordChangeErrors = {};
  const parsed = passwordSchema.safeParse(password);
  if (!parsed.success) errors.new_password = sentence(parsed.error.issues[0]?.message ?? "is not allowed");
  if (!repeated) errors.confirm_password = "Repeat the new password.";
  else if (repeated !== password) errors.confirm_password = "Does not match the new password.";
  return errors;
}

/** POST /interaction/:uid/password: stores the new password, then finishes the login as the login page does. */
export function changePassword(deps: PageDeps & Pick<InteractionDeps, "servicesAs">): Step {
  const { provider } = deps;

  return async function changePassword(ctx) {
    const { interaction, form } = ctx.state;
    const pending = await pendingChange(deps, interaction);
    if (pending.state === "none") throw new PageError(400, "invalid_request", `Sign in with your current password first. ${START_AGAIN}`);
    if (pending.state === "stale") return showLogin(ctx, deps, interaction, { username: pending.username, error: SIGN_IN_AGAIN, status: 400 });

    const { user, marker } = pending;
    const password = form.new_password ?? "";
    const errors = formErrors(password, form.confirm_password ?? "");
    if (Object.keys(errors).length) return showPasswordChange(ctx, deps, interaction, user.username, { errors, status: 400 });
    try {
      await deps.servicesAs({ kind: "user", name: user.username }).users.completeRequiredPasswordChange(user.id, password, marker.checked);
    } catch (failure) {
      if (failure instanceof ConflictError) return showLogin(ctx, deps, interaction, { username: user.username, error: SIGN_IN_AGAIN, status: 400 });
      if (!(failure instanceof ValidationError)) throw failure;
      const message = failure.issues.map((i) => i.message).join("; ");
      return showPasswordChange(ctx, deps, interaction, user.username, { errors: { new_password: sentence(message) }, status: 400 });
    }
    log.info("required password change completed", { userId: user.id, ip: ctx.ip, interaction: interaction.uid });
    log.info("signed in", { userId: user.id, ip: ctx.ip, interaction: interaction.uid });
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
  };
}
