// Signing keys: the active key, the next one already published, retired ones still published until the
// tokens they signed have expired; rotation with the guarantees of `gatehouse keys rotate`.
import type Router from "@koa/router";
import type { Context } from "koa";
import { z } from "zod";
import { SIGNING_ALGS, type SigningAlg } from "../../services/keys.ts";
import type { AdminState } from "../access.ts";
import { readFields, text } from "./form-fields.ts";
import type { ConsoleKit } from "./index.ts";
import { format, redirectWithFlash, show } from "./page.ts";

const rotateForm = z.object({ alg: text });

export function keyPages(router: Router, kit: ConsoleKit): void {
  router.get("/keys", ...kit.view, async (ctx) => {
    const keys = await (ctx.state as AdminState).services.keys.list();
    const order = { active: 0, next: 1, retired: 2 } as const;
    keys.sort((a, b) => order[a.status] - order[b.status] || b.created_at.localeCompare(a.created_at));
    await show(ctx as unknown as Context, kit.page, "keys", { title: "Signing keys", section: "keys", keys, algorithms: SIGNING_ALGS });
  });

  router.post("/keys/rotate", ...kit.change(), async (ctx) => {
    const { alg } = readFields(rotateForm, (ctx.state as { form: Record<string, string> }).form);
    const rotation = await (ctx.state as AdminState).services.keys.rotate(alg ? { alg: alg as SigningAlg } : {});
    const retired = rotation.retired ? ` The previous key stays published for ${format.duration(rotation.retired_published_for_seconds)}, while tokens it signed can live.` : "";
    redirectWithFlash(ctx as unknown as Context, "/admin/keys", `Rotated: key ${rotation.active.slice(0, 12)}… now signs; a new next key is published.${retired}`);
  });
}
