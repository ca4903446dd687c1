// The dashboard: how much is configured, the active signing key and its age, the latest changes, and
// the endpoints an integrator needs.
import type { Context } from "koa";
import type Router from "@koa/router";
import type { AdminState } from "../access.ts";
import type { ConsoleKit } from "./index.ts";
import { show } from "./page.ts";

export function dashboardPage(router: Router, kit: ConsoleKit): void {
  router.get("/", ...kit.view, async (ctx) => {
    const { services } = ctx.state as AdminState;
    const [clients, apis, routes, users, keys, changes] = await Promise.all([
      services.clients.list({ limit: 1 }),
      services.apis.list(),
      services.routes.list(),
      services.users.list({ limit: 1 }),
      services.keys.list(),
      services.audit.list({ limit: 8 }),
    ]);
    await show(ctx as unknown as Context, kit.page, "dashboard", {
      title: "Dashboard",
      section: "dashboard",
      counts: { clients: clients.total, apis: apis.length, routes: routes.length, users: users.total },
      activeKey: keys.find((k) => k.status === "active"),
      changes: changes.items,
    });
  });
}
