// Users: the list (search, pages), creating one (a generated password is shown once), the user's page
// (profile, roles, status, whether the password must be changed, the password-attempt lock, consents and
// grants), editing the profile claims and roles, setting or generating a password (generated, or given
// with the box ticked: to be changed at the next sign-in), disabling, unlocking, signing out everywhere,
// revoking a grant, deleting.
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import type { UserInput, UserResource } from "../../services/users.ts";
import type { AdminState } from "../access.ts";
import { checkbox, optionalJson, optionalText, picked, readFields, text, words } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";

const PAGE_SIZE = 20;
/** The roles the console knows; others may be given as free text (for the apps that read them). */
export const CONSOLE_ROLES = {
  admin: "Changes everything in the console and the admin API",
  viewer: "Sees everything in the console, changes nothing",
} as const;
/** Profile claims the form has a field for; any other claim goes in the JSON field. */
const PROFILE_CLAIMS = ["name", "given_name", "family_name", "nickname", "phone_number", "locale"] as const;

const profileForm = z.object({
  email: optionalText,
  roles: picked,
  other_roles: words,
  other_claims: optionalJson.pipe(z.record(z.string(), z.unknown(), "must be a JSON object").nullable()),
});
const newUserForm = z.object({ username: text, password: optionalText, password_change_required: checkbox, enabled: checkbox });
const USER_FIELDS = ["username", "password", "password_change_required", "enabled", "email", "roles", "other_roles", "other_claims", "claims", ...PROFILE_CLAIMS.map((c) => `claims.${c}`)];

function profileInput(form: Record<string, string>): Pick<UserInput, "email" | "roles" | "claims"> {
  const fields = readFields(profileForm, form);
  const claims: Record<string, unknown> = { ...(fields.other_claims ?? {}) };
  for (const claim of PROFILE_CLAIMS) {
    const value = (form[`claims.${claim}`] ?? "").trim();
    if (value) claims[claim] = value;
  }
  return { email: fields.email, roles: [...new Set([...fields.roles, ...fields.other_roles])], claims };
}

function profileValues(user: UserResource): Record<string, string> {
  const values: Record<string, string> = {
    username: user.username,
    email: user.email ?? "",
    roles: user.roles.filter((r) => Object.hasOwn(CONSOLE_ROLES, r)).join("\n"),
    other_roles: user.roles.filter((r) => !Object.hasOwn(CONSOLE_ROLES, r)).join(" "),
  };
  const others: Record<string, unknown> = {};
  for (const [claim, value] of Object.entries(user.claims)) {
    if ((PROFILE_CLAIMS as readonly string[]).includes(claim) && typeof value === "string") values[`claims.${claim}`] = value;
    else others[claim] = value;
  }
  values.other_claims = Object.keys(others).length ? JSON.stringify(others, null, 2) : "";
  return values;
}

/** A user's roles as the console reads them. */
function consoleAccess(user: UserResource): "admin" | "viewer" | undefined {
  return user.roles.includes("admin") ? "admin" : user.roles.includes("viewer") ? "viewer" : undefined;
}

export function userPages(router: Router, kit: ConsoleKit): void {
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const formOf = (ctx: unknown) => ((ctx as Context).state as { form: Record<string, string> }).form;
  const userHref = (name: string) => `/admin/users/${encodeURIComponent(name)}`;
  /** The admin acting on their own account: signing themselves out of the console by accident is refused. */
  const self = (ctx: unknown, username: string) => {
    const { principal } = stateOf(ctx);
    return principal.kind === "session" && principal.user.username === username;
  };

  router.get("/users", ...kit.view, async (ctx) => {
    const { services } = stateOf(ctx);
    const search = typeof ctx.query.search === "string" ? ctx.query.search.trim().slice(0, 200) : "";
    const offset = Math.max(0, Number.parseInt(String(ctx.query.offset ?? "0"), 10) || 0);
    const list = await services.users.list({ search: search || undefined, offset, limit: PAGE_SIZE });
    const locks = new Map(await Promise.all(list.items.map(async (u) => [u.username, await services.users.lockedUntil(u.username)] as const)));
    await show(page(ctx), kit.page, "users", {
      title: "Users",
      section: "users",
      search,
      list,
      locks,
      access: consoleAccess,
      href: (at: number) => `/admin/users?${new URLSearchParams({ ...(search ? { search } : {}), offset: String(at) })}`,
    });
  });

  async function showForm(ctx: Context, user: UserResource | undefined, form: FormState, status?: number) {
    await show(ctx, kit.page, "user-form", { title: user ? `Edit ${user.username}` : "Add a user", section: "users", user, form, roles: CONSOLE_ROLES, claims: PROFILE_CLAIMS }, status);
  }

  /** A generated password, shown once (never cached, never redirected to); it must be changed at the first sign-in. */
  async function showPassword(ctx: Context, user: UserResource, password: string, event: "created" | "reset", status = 200) {
    ctx.set("Cache-Control", "no-store");
    await show(ctx, kit.page, "user-password", { title: "Temporary password", section: "users", user, password, event }, status);
  }

  router.get("/users/new", ...kit.editor, async (ctx) => {
    await showForm(page(ctx), undefined, new FormState({ enabled: "on" }, [], USER_FIELDS));
  });

  router.post("/users", ...kit.change({ lists: ["roles"] }), async (ctx) => {
    const { services } = stateOf(ctx);
    const form = formOf(ctx);
    try {
      const basics = readFields(newUserForm, form);
      // A generated password must always be changed; a given one when the box is ticked.
      const password = basics.password ? { password: basics.password, password_change_required: basics.password_change_required } : {};
      const created = await services.users.create({ ...profileInput(form), username: basics.username, enabled: basics.enabled, ...password });
      if (created.password) return showPassword(page(ctx), created.user, created.password, "created", 201);
      redirectWithFlash(page(ctx), userHref(created.user.username), `User ${created.user.username} added.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "username", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showForm(page(ctx), undefined, new FormState({ ...form, password: "" }, issues, USER_FIELDS), 400);
    }
  });

  router.get("/users/:name", ...kit.view, async (ctx) => {
    const { services } = stateOf(ctx);
    const user = await services.users.get(ctx.params.name!);
    const [lockedUntil, grants, activity] = await Promise.all([
      services.users.lockedUntil(user.username),
      services.users.grants(user.username),
      services.audit.list({ entity_type: "user", entity_id: user.username, limit: 6 }),
    ]);
    await show(page(ctx), kit.page, "user", { title: user.username, section: "users", user, lockedUntil, grants, access: consoleAccess(user), self: self(ctx, user.username), activity: activity.items, claims: PROFILE_CLAIMS });
  });

  router.get("/users/:name/edit", ...kit.editor, async (ctx) => {
    const user = await stateOf(ctx).services.users.get(ctx.params.name!);
    await showForm(page(ctx), user, new FormState(profileValues(user), [], USER_FIELDS));
  });

  router.post("/users/:name", ...kit.change({ lists: ["roles"] }), async (ctx) => {
    const { services } = stateOf(ctx);
    const user = await services.users.get(ctx.params.name!);
    const form = formOf(ctx);
    try {
      const input = profileInput(form);
      if (self(ctx, user.username) && !input.roles!.includes("admin")) throw new ValidationError([{ field: "roles", message: "you cannot take the admin role from the account you are signed in with" }]);
      await services.users.update(user.username, input);
      redirectWithFlash(page(ctx), userHref(user.username), `User ${user.username} saved.`);
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await showForm(page(ctx), user, new FormState(form, failure.issues, USER_FIELDS), 400);
    }
  });

  for (const [action, enabled] of [["enable", true], ["disable", false]] as const) {
    router.post(`/users/:name/${action}`, ...kit.change(), async (ctx) => {
      const username = ctx.params.name!;
      if (!enabled && self(ctx, username)) throw new ValidationError("you cannot disable the account you are signed in with");
      await stateOf(ctx).services.users.update(username, { enabled });
      redirectWithFlash(page(ctx), userHref(username), enabled ? `User ${username} enabled.` : `User ${username} disabled: signed out everywhere, their tokens revoked.`);
    });
  }

  router.post("/users/:name/password", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const user = await services.users.get(ctx.params.name!);
    const { password, temporary } = readFields(z.object({ password: optionalText, temporary: checkbox }), formOf(ctx));
    if (!password) return showPassword(page(ctx), user, await services.users.resetPassword(user.username), "reset");
    try {
      await services.users.setPassword(user.username, password, { temporary });
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      return redirectWithFlash(page(ctx), userHref(user.username), `Password not set: ${failure.issues.map((i) => i.message).join("; ")}.`, "error");
    }
    const must = temporary ? ` It must be changed at the next sign-in.` : "";
    redirectWithFlash(page(ctx), userHref(user.username), `Password of ${user.username} set: their sessions and tokens ended.${must}`);
  });

  router.post("/users/:name/unlock", ...kit.change(), async (ctx) => {
    const username = ctx.params.name!;
    await stateOf(ctx).services.users.unlock(username);
    redirectWithFlash(page(ctx), userHref(username), `${username} may try their password again.`);
  });

  router.post("/users/:name/revoke-sessions", ...kit.change(), async (ctx) => {
    const username = ctx.params.name!;
    if (self(ctx, username)) throw new ValidationError("sign out instead: this would end your own console session");
    const ended = await stateOf(ctx).services.users.revokeSessions(username);
    redirectWithFlash(page(ctx), userHref(username), `${username} was signed out everywhere (${ended.artifacts} sessions, grants and tokens ended).`);
  });

  router.post("/users/:name/grants/:client/revoke", ...kit.change(), async (ctx) => {
    const username = ctx.params.name!;
    const revoked = await stateOf(ctx).services.users.revokeGrant(username, ctx.params.client!);
    redirectWithFlash(page(ctx), userHref(username), `Access of ${ctx.params.client} revoked: consent forgotten, ${revoked.grants_revoked === 1 ? "1 grant" : `${revoked.grants_revoked} grants`} and its tokens ended.`);
  });

  router.get("/users/:name/delete", ...kit.editor, async (ctx) => {
    const user = await stateOf(ctx).services.users.get(ctx.params.name!);
    if (self(ctx, user.username)) throw new ValidationError("you cannot delete the account you are signed in with");
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete ${user.username}`,
      section: "users",
      kind: "user",
      name: user.username,
      id: user.username,
      crumbs: [["Users", "/admin/users"], [user.username, userHref(user.username)], ["Delete"]],
      consequences: ["They are signed out everywhere; their consents, grants and tokens end.", "This cannot be undone."],
      action: `${userHref(user.username)}/delete`,
      cancel: userHref(user.username),
    });
  });

  router.post("/users/:name/delete", ...kit.change(), async (ctx) => {
    const username = ctx.params.name!;
    if (self(ctx, username)) throw new ValidationError("you cannot delete the account you are signed in with");
    await stateOf(ctx).services.users.delete(username);
    redirectWithFlash(page(ctx), "/admin/users", `User ${username} deleted.`);
  });
}
