// APIs and their gateway routes: the list, an API's page (settings, its routes as a table, the policies
// attached to the API and its routes, Try it), the API form (token format and lifetime, scopes, token
// check, trusted issuers, introspection clients) and the route form (prefix, host, methods, upstream,
// rewrite, scopes per method, public, timeout, body limit). Policies have their own forms (policies.ts).
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { ASYMMETRIC_ALGORITHMS } from "../../shared/algorithms.ts";
import type { ApiInput, ApiResource } from "../../services/apis.ts";
import { ConflictError, ValidationError } from "../../services/errors.ts";
import { ROUTE_METHODS, type RouteInput, type RouteResource } from "../../services/routes.ts";
import type { AdminState } from "../access.ts";
import { ADMIN_API } from "../built-in.ts";
import { checkbox, integer, lines, optionalText, picked, readFields, text, words } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, redirectWithFlash, show } from "./page.ts";
import { POLICY_CHOICES, attachedPolicies, policyPages, routePolicies } from "./policies.ts";
import { trialForm, type Trial, type TrialResult } from "./try-it.ts";

/** The method rules a route form offers: a default for every other method, then each method. */
const RULE_METHODS = ["*", ...ROUTE_METHODS] as const;

/** `issuer jwks_uri [ALG,ALG]` per line. */
const trustedIssuers = lines.transform((entries, ctx) =>
  entries.map((line, index) => {
    const [issuer = "", jwksUri = "", algorithms] = line.split(/\s+/);
    if (!jwksUri) ctx.addIssue({ code: "custom", path: [index], message: "write each as: issuer jwks_uri [ALG,ALG]" });
    return { issuer, jwks_uri: jwksUri, ...(algorithms ? { algorithms: algorithms.split(",").filter(Boolean) } : {}) };
  }),
);

/** The API form's fields: nothing else a browser sends is read. */
const apiForm = z.object({
  name: text,
  token_format: text,
  access_token_ttl: integer(1),
  scopes: words,
  token_check: text,
  trusted_issuers: trustedIssuers,
  allow_query_token: checkbox,
  introspection_clients: lines,
});
const newApiForm = apiForm.extend({ identifier: text });
const API_FIELDS = Object.keys(newApiForm.shape);

/** The API's settings the form gives; its policies are left as they are (the update keeps them). */
function apiInput(fields: z.infer<typeof apiForm>): Omit<ApiInput, "identifier" | "policies"> {
  return {
    name: fields.name,
    token_format: fields.token_format as ApiInput["token_format"],
    access_token_ttl: fields.access_token_ttl,
    scopes: fields.scopes,
    token_check: fields.token_check as ApiInput["token_check"],
    trusted_issuers: fields.trusted_issuers as ApiInput["trusted_issuers"],
    allow_query_token: fields.allow_query_token,
    introspection_clients: fields.introspection_clients,
  };
}

function apiValues(api: ApiResource): Record<string, string> {
  return {
    identifier: api.identifier,
    name: api.name,
    token_format: api.token_format,
    access_token_ttl: String(api.access_token_ttl),
    scopes: api.scopes.join(" "),
    token_check: api.token_check,
    trusted_issuers: api.trusted_issuers.map((t) => `${t.issuer} ${t.jwks_uri} ${t.algorithms.join(",")}`).join("\n"),
    allow_query_token: api.allow_query_token ? "on" : "",
    introspection_clients: api.introspection_clients.join("\n"),
  };
}

const NEW_API_VALUES = { token_format: "jwt", access_token_ttl: "3600", token_check: "jwt" };

/** The route form: its fixed fields, then for each method a rule switch and its all-of and any-of scopes. */
const routeForm = z.object({
  path_prefix: text,
  host: optionalText,
  methods: picked,
  upstream: text,
  rewrite: text,
  rewrite_path: text,
  public: checkbox,
  timeout_ms: integer(1),
  max_body_bytes: integer(0),
});
const ruleForm = z.object(Object.fromEntries(RULE_METHODS.map((m) => [m, z.object({ on: checkbox, all_of: words, any_of: words })])));
const ROUTE_FIELDS = [...Object.keys(routeForm.shape), ...RULE_METHODS.flatMap((m) => [`scopes.${m}.all_of`, `scopes.${m}.any_of`]), "scopes"];

function routeInput(form: Record<string, string>): RouteInput {
  const fields = readFields(routeForm, form);
  const rules = ruleForm.parse(Object.fromEntries(RULE_METHODS.map((m) => [m, { on: form[`scopes.${m}`], all_of: form[`scopes.${m}.all_of`], any_of: form[`scopes.${m}.any_of`] }])));
  const scopes: Record<string, { all_of: string[]; any_of: string[] }> = {};
  for (const [method, rule] of Object.entries(rules)) {
    // A rule the form switched on, or one given scopes (the switch left off by mistake).
    if (rule.on || rule.all_of.length || rule.any_of.length) scopes[method] = { all_of: rule.all_of, any_of: rule.any_of };
  }
  return {
    path_prefix: fields.path_prefix,
    host: fields.host,
    methods: fields.methods as RouteInput["methods"],
    upstream: fields.upstream,
    rewrite: fields.rewrite === "path" ? fields.rewrite_path : fields.rewrite,
    scopes,
    public: fields.public,
    timeout_ms: fields.timeout_ms,
    max_body_bytes: fields.max_body_bytes,
  };
}

function routeValues(route: RouteResource): Record<string, string> {
  const values: Record<string, string> = {
    path_prefix: route.path_prefix,
    host: route.host ?? "",
    methods: route.methods.join("\n"),
    upstream: route.upstream,
    rewrite: route.rewrite === "strip" || route.rewrite === "keep" ? route.rewrite : "path",
    rewrite_path: route.rewrite === "strip" || route.rewrite === "keep" ? "" : route.rewrite,
    public: route.public ? "on" : "",
    timeout_ms: String(route.timeout_ms),
    max_body_bytes: String(route.max_body_bytes),
  };
  for (const [method, rule] of Object.entries(route.scopes)) {
    values[`scopes.${method}`] = "on";
    values[`scopes.${method}.all_of`] = rule.all_of.join(" ");
    values[`scopes.${method}.any_of`] = rule.any_of.join(" ");
  }
  return values;
}

const NEW_ROUTE_VALUES = { rewrite: "strip", timeout_ms: "30000", max_body_bytes: String(1024 * 1024) };

export function apiPages(router: Router, kit: ConsoleKit, trial: Trial): void {
  policyPages(router, kit);
  const page = (ctx: unknown) => ctx as Context;
  const stateOf = (ctx: unknown) => (ctx as Context).state as AdminState;
  const formOf = (ctx: unknown) => ((ctx as Context).state as { form: Record<string, string> }).form;
  const apiHref = (identifier: string) => `/admin/apis/${encodeURIComponent(identifier)}`;

  router.get("/apis", ...kit.view, async (ctx) => {
    const { services } = stateOf(ctx);
    const [apis, routes] = await Promise.all([services.apis.list(), services.routes.list()]);
    const counts = new Map<string, number>();
    for (const route of routes) counts.set(route.api, (counts.get(route.api) ?? 0) + 1);
    await show(page(ctx), kit.page, "apis", { title: "APIs", section: "apis", apis, counts });
  });

  async function showApiForm(ctx: Context, api: ApiResource | undefined, form: FormState, status?: number) {
    await show(ctx, kit.page, "api-form", { title: api ? `Edit ${api.name}` : "Add an API", section: "apis", api, form, algorithms: ASYMMETRIC_ALGORITHMS }, status);
  }

  router.get("/apis/new", ...kit.editor, async (ctx) => {
    await showApiForm(page(ctx), undefined, new FormState(NEW_API_VALUES, [], API_FIELDS));
  });

  router.post("/apis", ...kit.change(), async (ctx) => {
    const form = formOf(ctx);
    try {
      const fields = readFields(newApiForm, form);
      const api = await stateOf(ctx).services.apis.create({ ...apiInput(fields), identifier: fields.identifier });
      redirectWithFlash(page(ctx), apiHref(api.identifier), `API “${api.name}” added. Add a route to put it behind the gateway.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "identifier", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showApiForm(page(ctx), undefined, new FormState(form, issues, API_FIELDS), 400);
    }
  });

  async function showApi(ctx: Context, identifier: string, trialState: { form: FormState; result?: TrialResult } = { form: new FormState() }, status?: number) {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(identifier);
    const [routes, clients, activity] = await Promise.all([
      services.routes.list(api.identifier),
      services.clients.all(),
      services.audit.list({ entity_type: "api", entity_id: api.identifier, limit: 5 }),
    ]);
    // Clients that may have one of the API's scopes first: they are the ones that call it.
    const callers = clients.filter((c) => c.enabled && c.scopes.some((s) => api.scopes.includes(s)));
    const others = clients.filter((c) => c.enabled && !callers.includes(c));
    await show(
      ctx,
      kit.page,
      "api",
      { title: api.name, section: "apis", api, builtIn: api.identifier === ADMIN_API, routes, callers, others, methods: ROUTE_METHODS, trial: trialState, activity: activity.items, policies: attachedPolicies(api, routes), policyChoices: POLICY_CHOICES },
      status,
    );
  }

  router.get("/apis/:id", ...kit.view, async (ctx) => {
    await showApi(page(ctx), ctx.params.id!);
  });

  router.get("/apis/:id/edit", ...kit.editor, async (ctx) => {
    const api = await stateOf(ctx).services.apis.get(ctx.params.id!);
    await showApiForm(page(ctx), api, new FormState(apiValues(api), [], API_FIELDS));
  });

  router.post("/apis/:id", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    const form = formOf(ctx);
    try {
      const input = apiInput(readFields(apiForm, form));
      // The form has a line per trusted issuer with its common settings; whatever else an entry holds stays.
      input.trusted_issuers = input.trusted_issuers?.map((entry) => ({ ...api.trusted_issuers.find((t) => t.issuer === entry.issuer), ...entry }));
      const updated = await services.apis.update(api.identifier, input);
      redirectWithFlash(page(ctx), apiHref(updated.identifier), `API “${updated.name}” saved.`);
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await showApiForm(page(ctx), api, new FormState(form, failure.issues, API_FIELDS), 400);
    }
  });

  router.get("/apis/:id/delete", ...kit.editor, async (ctx) => {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    const routes = await services.routes.list(api.identifier);
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete ${api.name}`,
      section: "apis",
      kind: "API",
      name: api.name,
      id: api.identifier,
      crumbs: [["APIs", "/admin/apis"], [api.name, apiHref(api.identifier)], ["Delete"]],
      consequences: [`Its ${routes.length === 1 ? "route goes" : `${routes.length} routes go`} with it: the gateway stops forwarding to them at once.`, "Clients keep their scopes; tokens for this API stop being issued."],
      action: `${apiHref(api.identifier)}/delete`,
      cancel: apiHref(api.identifier),
    });
  });

  router.post("/apis/:id/delete", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    await services.apis.delete(api.identifier);
    redirectWithFlash(page(ctx), "/admin/apis", `API “${api.name}” deleted.`);
  });

  router.post("/apis/:id/try", ...kit.change(), async (ctx) => {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    const form = formOf(ctx);
    try {
      const fields = readFields(trialForm, form);
      const route = await services.routes.get(fields.route);
      if (route.api !== api.identifier) throw new ValidationError([{ field: "route", message: "pick a route of this API" }]);
      const result = await trial.run(services, api.identifier, route, fields);
      await showApi(page(ctx), api.identifier, { form: new FormState(form), result });
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      await showApi(page(ctx), api.identifier, { form: new FormState(form, failure.issues, ["client_id", "route", "method", "path"]) }, 400);
    }
  });

  // Routes: nested under their API.
  async function showRouteForm(ctx: Context, api: ApiResource, route: RouteResource | undefined, form: FormState, status?: number) {
    const registered = await stateOf(ctx).services.scopes.list();
    const scopes = [...new Set([...api.scopes, ...registered.map((s) => s.name)])];
    await show(ctx, kit.page, "route-form", {
      title: route ? `Edit route ${route.path_prefix}` : "Add a route",
      section: "apis",
      api,
      route,
      form,
      methods: ROUTE_METHODS,
      ruleMethods: RULE_METHODS,
      scopes,
      policies: route ? routePolicies(api, route) : [],
      policyChoices: POLICY_CHOICES,
    }, status);
  }

  router.get("/apis/:id/routes/new", ...kit.editor, async (ctx) => {
    const api = await stateOf(ctx).services.apis.get(ctx.params.id!);
    await showRouteForm(page(ctx), api, undefined, new FormState(NEW_ROUTE_VALUES, [], ROUTE_FIELDS));
  });

  router.post("/apis/:id/routes", ...kit.change({ lists: ["methods"] }), async (ctx) => {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(ctx.params.id!);
    const form = formOf(ctx);
    try {
      const route = await services.routes.create(api.identifier, routeInput(form));
      redirectWithFlash(page(ctx), apiHref(api.identifier), `Route ${route.path_prefix} added: the gateway forwards it to ${route.upstream}.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "path_prefix", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showRouteForm(page(ctx), api, undefined, new FormState(form, issues, ROUTE_FIELDS), 400);
    }
  });

  /** The route, if it belongs to the API of the URL. */
  async function routeOf(ctx: Context): Promise<{ api: ApiResource; route: RouteResource }> {
    const { services } = stateOf(ctx);
    const api = await services.apis.get(String(ctx.params.id));
    const route = await services.routes.get(String(ctx.params.route));
    if (route.api !== api.identifier) throw new ValidationError("this route belongs to another API");
    return { api, route };
  }

  router.get("/apis/:id/routes/:route/edit", ...kit.editor, async (ctx) => {
    const { api, route } = await routeOf(page(ctx));
    await showRouteForm(page(ctx), api, route, new FormState(routeValues(route), [], ROUTE_FIELDS));
  });

  router.post("/apis/:id/routes/:route", ...kit.change({ lists: ["methods"] }), async (ctx) => {
    const { api, route } = await routeOf(page(ctx));
    const form = formOf(ctx);
    try {
      const input = routeInput(form);
      // Rules the form left out are gone: the update replaces the whole map.
      const updated = await stateOf(ctx).services.routes.update(route.id, input);
      redirectWithFlash(page(ctx), apiHref(api.identifier), `Route ${updated.path_prefix} saved.`);
    } catch (failure) {
      const issues = failure instanceof ValidationError ? failure.issues : failure instanceof ConflictError ? [{ field: "path_prefix", message: failure.message }] : undefined;
      if (!issues) throw failure;
      await showRouteForm(page(ctx), api, route, new FormState(form, issues, ROUTE_FIELDS), 400);
    }
  });

  router.get("/apis/:id/routes/:route/delete", ...kit.editor, async (ctx) => {
    const { api, route } = await routeOf(page(ctx));
    await show(page(ctx), kit.page, "confirm-delete", {
      title: `Delete route ${route.path_prefix}`,
      section: "apis",
      kind: "route",
      name: `${route.host ?? ""}${route.path_prefix}`,
      id: route.id,
      crumbs: [["APIs", "/admin/apis"], [api.name, apiHref(api.identifier)], [`Route ${route.path_prefix}`], ["Delete"]],
      consequences: [`The gateway stops forwarding ${route.path_prefix} to ${route.upstream} at once (404 unless a shorter route matches).`],
      action: `${apiHref(api.identifier)}/routes/${encodeURIComponent(route.id)}/delete`,
      cancel: apiHref(api.identifier),
    });
  });

  router.post("/apis/:id/routes/:route/delete", ...kit.change(), async (ctx) => {
    const { api, route } = await routeOf(page(ctx));
    await stateOf(ctx).services.routes.delete(route.id);
    redirectWithFlash(page(ctx), apiHref(api.identifier), `Route ${route.path_prefix} deleted.`);
  });
}
