// POST /interaction/:uid/confirm: grants what the consent page listed, remembers it for this user and
// client beyond the session (configuration.ts's loadExistingGrant reads it back), and finishes the step.
import type { Grant } from "oidc-provider";
import type { Storage } from "../../storage/index.ts";
import { log } from "../../shared/logger.ts";
import { promptDetails } from "./consent-details.ts";
import { PageError } from "../../web/errors.ts";
import { START_AGAIN } from "./types.ts";
import type { InteractionDeps, Step } from "./types.ts";

const words = (value: string) => value.split(" ").filter(Boolean);
const union = (...lists: string[][]) => [...new Set(lists.flat())];

/** Adds everything the grant now holds to the stored consent, keeping what was granted before. */
export async function rememberConsent(storage: Storage, userId: string, clientId: string, grant: Grant): Promise<void> {
  const previous = await storage.consents.find(userId, clientId);
  const resources: Record<string, string[]> = { ...previous?.resources };
  for (const indicator of Object.keys(grant.resources ?? {})) {
    resources[indicator] = union(resources[indicator] ?? [], words(grant.getResourceScope(indicator)));
  }
  await storage.consents.save({
    userId,
    clientId,
    scopes: union(previous?.scopes ?? [], words(grant.getOIDCScope())),
    claims: union(previous?.claims ?? [], grant.getOIDCClaims()),
    resources,
  });
}

export function confirmConsent({ provider, storage }: Pick<InteractionDeps, "provider" | "storage">): Step {
  return async function confirmConsent(ctx) {
    const { interaction } = ctx.state;
    const accountId = interaction.session?.accountId;
    if (!accountId) throw new PageError(400, "invalid_request", `You are no longer signed in. ${START_AGAIN}`);
    const clientId = String(interaction.params.client_id);

    const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    const details = promptDetails(interaction.prompt.details);
    if (details.missingOIDCScope.length) grant.addOIDCScope(details.missingOIDCScope);
    if (details.missingOIDCClaims.length) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) grant.addResourceScope(indicator, scopes);
    const grantId = await grant.save();

    await rememberConsent(storage, accountId, clientId, grant);
    log.info("consent granted", { userId: accountId, clientId, grantId: grantId.slice(0, 8), interaction: interaction.uid });
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };
}
