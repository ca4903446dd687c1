// Trusted assertion issuers: outside identity providers whose signed assertions clients may trade for
// tokens (JWT bearer, SAML 2.0 bearer): how their assertions are checked, which clients may present
// them, how their subject names a user, and what they may grant.
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import { JWT_BEARER, SAML2_BEARER } from "../../services/grant-rules.ts";
import type { IssuerInput, IssuerResource } from "../../services/issuers.ts";
import { ASYMMETRIC_ALGORITHMS } from "../../shared/algorithms.ts";
import type { AdminState } from "../access.ts";
import { checkbox, integer, lines, optionalJson, optionalText, picked, readFields, text, words } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";

/** The issuer form's fields: nothing else a browser sends is read. */
const issuerForm = z.object({
  kind: text,
  name: text,
  jwks: optionalJson,
  jwks_uri: optionalText,
  certificate: optionalText,
  clients: lines,
  subject_mapping: text,
  scopes: words,
  max_assertion_lifetime: integer(1),
  algorithms: picked,
  enabled: checkbox,
});
const newIssuerForm = issuerForm.extend({ issuer: text });
const FIELDS = Object.keys(newIssuerForm.shape);

function issuerInput(fields: z.infer<typeof issuerForm>): Omit<IssuerInput, "issuer"> {
  return {
    ...fields,
    kind: fields.kind as IssuerInput["kind"],
    jwks: fields.jwks as IssuerInput["jwks"],
    subject_mapping: fields.subject_mapping as IssuerInput["subject_mapping"],
    algorithms: fields.algorithms as IssuerInput["algorithms"],
  };
}

function issuerValues(issuer: IssuerResource): Record<string, string> {
  return {
    issuer: issuer.issuer,
    kind: issuer.kind,
    name: issuer.name,
    jwks: issuer.jwks ? JSON.stringify(issuer.jwks, null, 2) : "",
    jwks_uri: issuer.jwks_uri ?? "",
    certificate: issuer.certificate ?? "",
    clients: issuer.clients.join("\n"),
    subject_mapping: issuer.subject_mapping,
    scopes: issuer.scopes.join(" "),
    max_assertion_lifetime: String(issuer.max_assertion_lifetime),
    algorithms: issuer.algorithms.join("\n"),
    enabled: issuer.enabled ? "on" : "",
  };
}

const NEW_VALUES = { kind: "jwt", subject_mapping: "username", max_assertion_lifetime: "300", algorithms: "RS256\nES256\nPS256\nEdDSA", enabled: "on" };

export function issuerPages(router: Router, kit: ConsoleKit): void {
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const formOf = (ctx: unknown) => ((ctx as Context).state as { form: Record<string, string> }).form;
  const issuerHref = (issuer: string) => `/admin/issuers/${encodeURIComponent(issuer)}`;

  router.get("/issuers", ...kit.view, async (ctx) => {
    const issuers = await stateOf(ctx).services.issuers.list();
    await show(page(ctx), kit.page, "issuers", { title: "Trusted issuers", section: "issuers", issuers });
  });

  async function showForm(ctx: Context, issuer: IssuerResource | undefined, form: FormState, status?: number) {
    // The clients that may present assertions: those registered for an assertion grant.
    const clients = (await stateOf(ctx).services.clients.all()).filter((c) => c.grant_types.includes(JWT_BEARER) || c.grant_types.includes(SAML2_BEARER));
    await show(ctx, kit.page, "issuer-form", { title: issuer ? `Edit ${issuer.name}` : "Add a trusted issuer", section: "issuers", issuer, form, algorithms: ASYMMETRIC_ALGORITHMS, clients }, status);
  }

  router.get("/issuers/new", ...kit.editor, async (ctx) => showForm(page(ctx), undefined, new FormState(NEW_VALUES, [], FIELDS)));

  router.post("/issuers", ...kit.change({ lists: ["algorithms"] }), async (ctx) => {
    const form = formOf(ctx);
    try {
      const fields = readFields(newIssuerForm, form);
      const issuer = await stateOf(ctx).services.issuers.create({ ...issuerInput(fields), issuer: fields.issuer });
      redirectWithFlash(page(ctx), issuerHref(issuer.issuer), `Issuer “${issuer.name}” added.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "issuer", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showForm(page(ctx), undefined, new FormState(form, issues, FIELDS), 400);
    }
  });

  router.get("/issuers/:id", ...kit.view, async (ctx) => {
    const { services } = stateOf(ctx);
    const issuer = await services.issuers.get(ctx.params.id!);
    const activity = await services.audit.list({ entity_type: "issuer", entity_id: issuer.issuer, limit: 6 });
    await show(page(ctx), kit.page, "issuer", { title: issuer.name, section: "issuers", issuer, activity: activity.items });
  });

  router.get("/issuers/:id/edit", ...kit.editor, async (ctx) => {
    const issuer = await stateOf(ctx).services.issuers.get(ctx.params.id!);
    await showForm(page(ctx), issuer, new FormState(issuerValues(issuer), [], FIELDS));
  });

  router.post("/issuers/:id", ...kit.change({ lists: ["algorithms"] }), async (ctx) => {
    const { services } = stateOf(ctx);
    const issuer = await services.issuers.get(ctx.params.id!);
    const form = formOf(ctx);
    try {
      const updated = await services.issuers.update(issuer.issuer, issuerInput(readFields(issuerForm, form)));
      redirectWithFlash(page(ctx), issuerHref(updated.issuer), `Issuer “${updated.name}” saved.`);
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await showForm(page(ctx), issuer, new FormState(form, failure.issues, FIELDS), 400);
    }
  });

  router.get("/issuers/:id/delete", ...kit.editor, async (ctx) => {
    const issuer = await stateOf(ctx).services.issuers.get(ctx.params.id!);
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete ${issuer.name}`,
      section: "issuers",
      kind: "trusted issuer",
      name: issuer.name,
      id: issuer.issuer,
      crumbs: [["Trusted issuers", "/admin/issuers"], [issuer.name, issuerHref(issuer.issuer)], ["Delete"]],
      consequences: ["Its assertions are refused from now on; tokens already issued for them stay valid until they expire."],
      action: `${issuerHref(issuer.issuer)}/delete`,
      cancel: issuerHref(issuer.issuer),
    });
  });

  router.post("/issuers/:id/delete", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const issuer = await services.issuers.get(ctx.params.id!);
    await services.issuers.delete(issuer.issuer);
    redirectWithFlash(page(ctx), "/admin/issuers", `Issuer “${issuer.name}” deleted.`);
  });
}
