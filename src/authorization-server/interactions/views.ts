// The interaction pages: sign-in, the required password change, consent. Each carries the interaction's
// CSRF token and allows its forms to lead to the client's redirect_uri (where the browser ends up once
// the interaction finishes).
import type { Context } from "koa";
import type { Interaction } from "oidc-provider";
import { allowFormAction } from "../../shared/security-headers.ts";
import { sendPage } from "../../web/pages.ts";
import { consentRequest, promptDetails } from "./consent-details.ts";
import type { CsrfTokens } from "../../web/csrf.ts";
import type { InteractionDeps } from "./types.ts";

export type PageDeps = Pick<InteractionDeps, "provider" | "catalog" | "storage"> & { csrf: CsrfTokens };

async function clientName({ provider, catalog }: PageDeps, clientId: string): Promise<string> {
  return catalog.client(clientId)?.name ?? (await provider.Client.find(clientId))?.clientName ?? clientId;
}

function common(ctx: Context, deps: PageDeps, interaction: Interaction) {
  allowFormAction(ctx, interaction.params.redirect_uri);
  return { uid: interaction.uid, csrf: deps.csrf.issue(interaction.uid) };
}

export interface LoginPageOptions {
  username?: string;
  error?: string;
  status?: number;
}

export async function showLogin(ctx: Context, deps: PageDeps, interaction: Interaction, options: LoginPageOptions = {}): Promise<void> {
  const hint = interaction.params.login_hint;
  await sendPage(
    ctx,
    "login",
    {
      title: "Sign in",
      ...common(ctx, deps, interaction),
      clientName: await clientName(deps, String(interaction.params.client_id)),
      username: options.username ?? (typeof hint === "string" ? hint : ""),
      error: options.error ?? "",
    },
    options.status ?? 200,
  );
}

/** Field errors of the password change form, shown beside their fields. */
export interface PasswordChangeErrors {
  new_password?: string;
  confirm_password?: string;
}

export interface PasswordChangeOptions {
  errors?: PasswordChangeErrors;
  status?: number;
}

/** "Choose a new password": never cached, and never holding a password (neither the old nor a new one). */
export async function showPasswordChange(ctx: Context, deps: PageDeps, interaction: Interaction, username: string, options: PasswordChangeOptions = {}): Promise<void> {
  ctx.set("Cache-Control", "no-store");
  await sendPage(
    ctx,
    "password-change",
    {
      title: "Choose a new password",
      ...common(ctx, deps, interaction),
      clientName: await clientName(deps, String(interaction.params.client_id)),
      username,
      errors: options.errors ?? {},
    },
    options.status ?? 200,
  );
}

export async function showConsent(ctx: Context, deps: PageDeps, interaction: Interaction): Promise<void> {
  const accountId = interaction.session?.accountId;
  const user = accountId ? await deps.storage.users.findById(accountId) : null;
  await sendPage(
    ctx,
    "consent",
    {
      title: "Allow access",
      ...common(ctx, deps, interaction),
      clientName: await clientName(deps, String(interaction.params.client_id)),
      username: user?.username ?? "",
      request: consentRequest(deps.catalog, promptDetails(interaction.prompt.details)),
    },
    200,
  );
}
