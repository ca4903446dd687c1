// Scopes: the registered ones with the text the consent page shows, which APIs list them and how many
// clients may ask for them; adding, editing the description, deleting.
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import { STANDARD_SCOPES } from "../../services/scopes.ts";
import type { AdminState } from "../access.ts";
import { ADMIN_SCOPES } from "../built-in.ts";
import { readFields, text } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";

const scopeForm = z.object({ name: text, description: text });
const descriptionForm = scopeForm.pick({ description: true });

export function scopePages(router: Router, kit: ConsoleKit): void {
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const formOf = (ctx: unknown) => ((ctx as Context).state as { form: Record<string, string> }).form;
  const scopeHref = (name: string) => `/admin/scopes/${encodeURIComponent(name)}`;

  async function showList(ctx: Context, form = new FormState({}, [], ["name", "description"]), status?: number) {
    const { services } = stateOf(ctx);
    const [scopes, apis, clients] = await Promise.all([services.scopes.list(), services.apis.list(), services.clients.all()]);
    const rows = scopes.map((scope) => ({
      ...scope,
      apis: apis.filter((a) => a.scopes.includes(scope.name)),
      clients: clients.filter((c) => c.scopes.includes(scope.name)).length,
    }));
    await show(ctx, kit.page, "scopes", { title: "Scopes", section: "scopes", rows, standard: STANDARD_SCOPES, builtIn: new Set(Object.values(ADMIN_SCOPES)), form }, status);
  }

  router.get("/scopes", ...kit.view, async (ctx) => showList(page(ctx)));

  router.post("/scopes", ...kit.change(), async (ctx) => {
    const form = formOf(ctx);
    try {
      const scope = await stateOf(ctx).services.scopes.create(readFields(scopeForm, form));
      redirectWithFlash(page(ctx), "/admin/scopes", `Scope ${scope.name} added.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "name", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showList(page(ctx), new FormState(form, issues, ["name", "description"]), 400);
    }
  });

  router.get("/scopes/:name/edit", ...kit.editor, async (ctx) => {
    const scope = await stateOf(ctx).services.scopes.get(ctx.params.name!);
    await show(page(ctx), kit.page, "scope-edit", { title: `Edit ${scope.name}`, section: "scopes", scope, form: new FormState({ description: scope.description }, [], ["description"]) });
  });

  router.post("/scopes/:name", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const scope = await services.scopes.get(ctx.params.name!);
    const form = formOf(ctx);
    try {
      await services.scopes.update(scope.name, readFields(descriptionForm, form));
      redirectWithFlash(page(ctx), "/admin/scopes", `Scope ${scope.name} saved.`);
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await show(page(ctx), kit.page, "scope-edit", { title: `Edit ${scope.name}`, section: "scopes", scope, form: new FormState(form, failure.issues, ["description"]) }, 400);
    }
  });

  router.get("/scopes/:name/delete", ...kit.editor, async (ctx) => {
    const scope = await stateOf(ctx).services.scopes.get(ctx.params.name!);
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete ${scope.name}`,
      section: "scopes",
      kind: "scope",
      name: scope.name,
      id: scope.name,
      crumbs: [["Scopes", "/admin/scopes"], [scope.name], ["Delete"]],
      consequences: ["The consent page no longer describes it; APIs that list it keep it as their own scope."],
      action: `${scopeHref(scope.name)}/delete`,
      cancel: "/admin/scopes",
    });
  });

  router.post("/scopes/:name/delete", ...kit.change(), async (ctx) => {
    const name = ctx.params.name!;
    await stateOf(ctx).services.scopes.delete(name);
    redirectWithFlash(page(ctx), "/admin/scopes", `Scope ${name} deleted.`);
  });
}
