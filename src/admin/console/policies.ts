// Gateway policies in the console: the Policies card of an API's page (what is attached to the API and
// to each of its routes, with an attach picker) and one form per policy and place, made from the
// policy's schema (services/policy-fields.ts): a text box, number, checkbox or select per setting, a
// textarea per list or map (one entry per line), checkboxes for a list of choices, a table for a list
// of objects (rate limits), and a write-only secret left empty to keep the stored one. The service's
// schema checks what the form sends, and its messages are shown beside each field.
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ApiResource } from "../../services/apis.ts";
import { ValidationError } from "../../services/errors.ts";
import { POLICY_IDS, isPolicyId, policySpec, type AttachPoint, type PolicyId } from "../../services/policies.ts";
import { formatValue, parseValue, policyFields, scalar, type PolicyField } from "../../services/policy-fields.ts";
import type { RouteResource } from "../../services/routes.ts";
import type { FormFields } from "../../web/form.ts";
import type { AdminState } from "../access.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";

/** Blank rows a list of objects offers beyond its entries. */
const BLANK_ROWS = 2;

/** The form fields a policy's form sends as lists: its lists of choices (checkboxes). */
const LIST_FIELDS = [...new Set(POLICY_IDS.flatMap((id) => policyFields(id).filter((f) => f.kind === "list" && f.choices).map((f) => f.name)))];

/** The form's values for a policy's settings (or its defaults, for a policy not attached yet). */
export function policyFormValues(id: PolicyId, settings: Record<string, unknown> | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const field of policyFields(id)) {
    const value = settings ? settings[field.name] : field.default;
    if (field.kind === "items") {
      (Array.isArray(value) ? (value as Record<string, unknown>[]) : []).forEach((item, row) => {
        for (const sub of field.fields!) if (item[sub.name] !== undefined) values[`${field.name}.${row}.${sub.name}`] = String(item[sub.name]);
      });
    } else if (field.kind === "boolean") {
      if (value === true) values[field.name] = "on";
    } else if (!field.writeOnly) values[field.name] = formatValue(field, value);
  }
  return values;
}

/** The rows a list of objects shows: one per entry the form holds (a row sent blank is not one), and blank ones. */
export function itemRows(field: PolicyField, form: FormState): number {
  let rows = 0;
  const cell = new RegExp(`^${field.name}\\.(\\d+)\\.`);
  for (const [name, value] of Object.entries(form.values)) {
    const match = cell.exec(name);
    if (match && value.trim() !== "") rows = Math.max(rows, Number(match[1]) + 1);
  }
  return rows + BLANK_ROWS;
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** A schema description as HTML: escaped, its `code` spans as <code>. */
export function describeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** The settings a policy's form gives: a field left empty takes its default; an empty secret keeps the stored one. */
export function policySettingsFrom(id: PolicyId, form: FormFields): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const field of policyFields(id)) {
    const text = form[field.name];
    switch (field.kind) {
      case "boolean":
        settings[field.name] = text !== undefined;
        break;
      case "items": {
        const items: Record<string, unknown>[] = [];
        for (let row = 0; row < 100; row++) {
          const item: Record<string, unknown> = {};
          let present = false;
          for (const sub of field.fields!) {
            const value = form[`${field.name}.${row}.${sub.name}`];
            if (value !== undefined && value.trim() !== "") {
              item[sub.name] = scalar(sub, value);
              present = true;
            }
          }
          if (present) items.push(item);
        }
        settings[field.name] = items;
        break;
      }
      case "list":
      case "map":
        settings[field.name] = parseValue(field, text ?? "");
        break;
      default:
        if (text !== undefined && text.trim() !== "") settings[field.name] = parseValue(field, text);
    }
  }
  return settings;
}

/** Where `policies.rate_limit.limits[0].requests` shows on the form: `limits.0.requests`. */
function formIssues(id: PolicyId, issues: ValidationError["issues"]) {
  const prefix = `policies.${id}`;
  return issues.map((issue) => {
    const field = issue.field.startsWith(`${prefix}.`) ? issue.field.slice(prefix.length + 1) : issue.field === prefix ? "" : issue.field;
    return { field: field.replace(/^(\w+)\[(\d+)\]\.(\w+)/, "$1.$2.$3"), message: issue.message };
  });
}

function fieldNames(id: PolicyId): string[] {
  return policyFields(id).flatMap((field) => (field.kind === "items" ? [field.name, ...Array.from({ length: 100 }, (_, row) => field.fields!.map((sub) => `${field.name}.${row}.${sub.name}`)).flat()] : [field.name]));
}

/** A one-line summary of a policy's settings, for the API page. */
export function policySummary(id: PolicyId, settings: Record<string, unknown>): string {
  switch (id) {
    case "cors":
      return `${(settings.origins as string[]).join(", ")}${settings.credentials ? " · with credentials" : ""}`;
    case "dpop":
      return `${settings.required ? "DPoP-bound tokens only" : "DPoP or bearer tokens"}${settings.max_age_seconds !== undefined ? ` · proofs at most ${settings.max_age_seconds as number} s old` : ""}${settings.require_nonce ? " · gateway nonces" : ""}`;
    case "rate_limit":
      return (settings.limits as Array<{ name?: string; by: string; requests: number; per: string; burst?: number }>)
        .map((l) => `${l.requests}/${l.per} per ${l.by}${l.burst !== undefined ? ` (burst ${l.burst})` : ""}`)
        .join(" · ");
    case "claim_headers":
      return Object.entries(settings.claims as Record<string, string>).map(([claim, header]) => `${claim} → ${header}`).join(", ") || "none";
    case "forward_token":
      return { none: "no token", original: "the caller's token as it came", signed: "a signed X-Gatehouse-Token" }[settings.mode as string] ?? String(settings.mode);
    case "outbound_oauth":
      return `${settings.token_url as string} as ${settings.client_id as string} · into ${settings.header as string}`;
    case "token_exchange":
      return `a token for ${settings.audience as string}${settings.scope ? ` (${settings.scope as string})` : ""}, the gateway as actor`;
  }
}

/** Every policy attached to the API or one of its routes, for the API page's Policies card. */
export function attachedPolicies(api: ApiResource, routes: RouteResource[]) {
  const rows: Array<{ id: PolicyId; title: string; point: AttachPoint; place: string; href: string; summary: string }> = [];
  const apiHref = `/admin/apis/${encodeURIComponent(api.identifier)}`;
  for (const id of POLICY_IDS) {
    const onApi = api.policies[id];
    if (onApi) rows.push({ id, title: policySpec(id).title, point: "api", place: "the API", href: `${apiHref}/policies/${id}`, summary: policySummary(id, onApi) });
  }
  for (const route of routes) {
    for (const id of POLICY_IDS) {
      const onRoute = route.policies[id];
      if (onRoute) rows.push({ id, title: policySpec(id).title, point: "route", place: `${route.host ?? ""}${route.path_prefix}`, href: `${apiHref}/routes/${encodeURIComponent(route.id)}/policies/${id}`, summary: policySummary(id, onRoute) });
    }
  }
  return rows;
}

/**
 * The policies that apply to a route, for its page: its own, and its API's (marked replaced where the
 * route's own of the same policy takes its place, as the gateway combines them).
 */
export function routePolicies(api: ApiResource, route: RouteResource) {
  const apiHref = `/admin/apis/${encodeURIComponent(api.identifier)}`;
  const rows: Array<{ id: PolicyId; title: string; point: AttachPoint; href: string; summary: string; replaced: boolean }> = [];
  for (const id of POLICY_IDS) {
    const spec = policySpec(id);
    const own = route.policies[id];
    const inherited = api.policies[id];
    if (own) rows.push({ id, title: spec.title, point: "route", href: `${apiHref}/routes/${encodeURIComponent(route.id)}/policies/${id}`, summary: policySummary(id, own), replaced: false });
    if (inherited) rows.push({ id, title: spec.title, point: "api", href: `${apiHref}/policies/${id}`, summary: policySummary(id, inherited), replaced: own !== undefined && spec.combine === "replace" });
  }
  return rows;
}

/** The policies there are, for the attach picker. */
export const POLICY_CHOICES = POLICY_IDS.map((id) => ({ id, title: policySpec(id).title, summary: policySpec(id).summary }));

export function policyPages(router: Router, kit: ConsoleKit): void {
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const formOf = (ctx: unknown) => ((ctx as Context).state as { form: Record<string, string> }).form;
  const apiHref = (identifier: string) => `/admin/apis/${encodeURIComponent(identifier)}`;

  /** The API, the route (for /routes/:route/...), and the policy of the URL. */
  async function placeOf(ctx: Context): Promise<{ api: ApiResource; route?: RouteResource; id: PolicyId; href: string; settings: Record<string, unknown> | undefined }> {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(String(ctx.params.id));
    const id = String(ctx.params.policy);
    if (!isPolicyId(id)) throw new ValidationError(`there is no policy ${id}`);
    if (ctx.params.route === undefined) return { api, id, href: `${apiHref(api.identifier)}/policies/${id}`, settings: api.policies[id] };
    const route = await services.routes.get(String(ctx.params.route));
    if (route.api !== api.identifier) throw new ValidationError("this route belongs to another API");
    return { api, route, id, href: `${apiHref(api.identifier)}/routes/${encodeURIComponent(route.id)}/policies/${id}`, settings: route.policies[id] };
  }

  async function showForm(ctx: Context, place: Awaited<ReturnType<typeof placeOf>>, form: FormState, status?: number) {
    const { api, route, id, href, settings } = place;
    const spec = policySpec(id);
    const where = route ? `route ${route.path_prefix}` : api.name;
    await show(
      ctx,
      kit.page,
      "policy-form",
      {
        title: `${spec.title} on ${where}`,
        section: "apis",
        api,
        route,
        policy: { id, title: spec.title, summary: spec.summary, stages: spec.stages, combine: spec.combine, keepsReferences: spec.keepsReferences === true },
        fields: policyFields(id),
        itemRows: (field: PolicyField) => itemRows(field, form),
        describe: describeHtml,
        attached: settings !== undefined,
        hasSecret: settings?.has_client_secret === true,
        action: href,
        form,
      },
      status,
    );
  }

  router.get("/apis/:id/policies", ...kit.editor, async (ctx) => {
    // The attach picker: which policy, on the API or which route.
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    const id = String(ctx.query.policy ?? "");
    const on = String(ctx.query.on ?? "api");
    if (!isPolicyId(id)) throw new ValidationError(`there is no policy ${id}`);
    if (on === "api") return page(ctx).redirect(`${apiHref(api.identifier)}/policies/${id}`);
    const route = await services.routes.get(on);
    if (route.api !== api.identifier) throw new ValidationError("this route belongs to another API");
    page(ctx).redirect(`${apiHref(api.identifier)}/routes/${encodeURIComponent(route.id)}/policies/${id}`);
  });

  for (const base of ["/apis/:id/policies/:policy", "/apis/:id/routes/:route/policies/:policy"]) {
    router.get(base, ...kit.editor, async (ctx) => {
      const place = await placeOf(page(ctx));
      await showForm(page(ctx), place, new FormState(policyFormValues(place.id, place.settings), [], fieldNames(place.id)));
    });

    router.post(base, ...kit.change({ lists: LIST_FIELDS }), async (ctx) => {
      const place = await placeOf(page(ctx));
      const { services } = stateOf(ctx);
      const form = formOf(ctx);
      try {
        const settings = policySettingsFrom(place.id, form);
        if (place.route) await services.routes.attachPolicy(place.route.id, place.id, settings);
        else await services.apis.attachPolicy(place.api.identifier, place.id, settings);
        const where = place.route ? `route ${place.route.path_prefix}` : place.api.name;
        redirectWithFlash(page(ctx), `${apiHref(place.api.identifier)}#policies`, `${policySpec(place.id).title} saved on ${where}: the gateway applies it at once.`);
      } catch (failure) {
        if (!(failure instanceof ValidationError)) throw failure;
        await showForm(page(ctx), place, new FormState(form, formIssues(place.id, failure.issues), fieldNames(place.id)), 400);
      }
    });

    router.post(`${base}/detach`, ...kit.change(), async (ctx) => {
      const place = await placeOf(page(ctx));
      const { services } = stateOf(ctx);
      if (place.route) await services.routes.detachPolicy(place.route.id, place.id);
      else await services.apis.detachPolicy(place.api.identifier, place.id);
      const where = place.route ? `route ${place.route.path_prefix}` : place.api.name;
      redirectWithFlash(page(ctx), `${apiHref(place.api.identifier)}#policies`, `${policySpec(place.id).title} detached from ${where}.`);
    });
  }
}
