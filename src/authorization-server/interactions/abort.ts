// GET or POST /interaction/:uid/abort: the user declined; the client receives access_denied.
import { log } from "../../shared/logger.ts";
import type { InteractionDeps, Step } from "./types.ts";

export function abort({ provider }: Pick<InteractionDeps, "provider">): Step {
  return async function abort(ctx) {
    log.info("interaction aborted", { interaction: ctx.state.interaction.uid, prompt: ctx.state.interaction.prompt.name });
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { error: "access_denied", error_description: "End-User aborted interaction" },
      { mergeWithLastSubmission: false },
    );
  };
}
