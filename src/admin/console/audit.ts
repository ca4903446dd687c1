// The audit log: every change made through the console, the admin API, the CLI or `apply`, newest
// first, filtered by kind of entity, entity, actor and time.
import type Router from "@koa/router";
import type { Context } from "koa";
import { auditQuerySchema } from "../../services/audit.ts";
import { ValidationError } from "../../services/errors.ts";
import type { AdminState } from "../access.ts";
import type { ConsoleKit } from "./index.ts";
import { FormState, show } from "./page.ts";

const PAGE_SIZE = 25;
/** Every kind of entity the log records, as its query schema lists them. */
const ENTITY_TYPES: readonly string[] = auditQuerySchema.shape.entity_type.unwrap().options;
const FILTERS = ["entity_type", "entity_id", "actor", "since"] as const;

export function auditPages(router: Router, kit: ConsoleKit): void {
  router.get("/audit", ...kit.view, async (ctx) => {
    const { services } = ctx.state as AdminState;
    const values: Record<string, string> = {};
    for (const name of FILTERS) {
      const value = ctx.query[name];
      if (typeof value === "string" && value.trim()) values[name] = value.trim().slice(0, 500);
    }
    const offset = Math.max(0, Number.parseInt(String(ctx.query.offset ?? "0"), 10) || 0);
    // datetime-local sends "2026-11-30T17:00" (no zone): read it as UTC, as the page shows times.
    const since = values.since && !/[zZ]|[+-]\d\d:\d\d$/.test(values.since) ? `${values.since.length === 16 ? `${values.since}:00` : values.since}Z` : values.since;
    let page = { items: [] as Awaited<ReturnType<typeof services.audit.list>>["items"], total: 0, offset, limit: PAGE_SIZE };
    let form = new FormState(values, [], [...FILTERS]);
    try {
      page = await services.audit.list({ entity_type: values.entity_type as never, entity_id: values.entity_id, actor: values.actor, since, offset, limit: PAGE_SIZE });
    } catch (failure) {
      if (!(failure instanceof ValidationError)) throw failure;
      form = new FormState(values, failure.issues, [...FILTERS]);
    }
    const filtered = Object.keys(values).length > 0;
    // Route ids are opaque: the page names a route by its path and links to its API while it exists.
    const [routes, apis] = await Promise.all([services.routes.list(), services.apis.list()]);
    const apiNames = new Map(apis.map((a) => [a.identifier, a.name]));
    const routeNames = new Map(routes.map((r) => [r.id, { path: `${r.host ?? ""}${r.path_prefix}`, api: r.api, apiName: apiNames.get(r.api) ?? r.api }]));
    await show(ctx as unknown as Context, kit.page, "audit", {
      title: "Audit log",
      section: "audit",
      page,
      form,
      filtered,
      entityTypes: ENTITY_TYPES,
      routeNames,
      href: (at: number) => `/admin/audit?${new URLSearchParams({ ...values, offset: String(at) })}`,
    });
  });
}
