// Ending what a client or a user was issued (Keycloak's "not before"): their grants, codes, refresh and
// opaque access tokens are deleted, a user's sessions too, and a not-before mark refuses every JWT
// access token issued before now, at introspection and at every gateway instance (which load the mark
// within CONFIG_POLL_MS). The mark is kept as long as any access token can live.
import type { Storage } from "../storage/index.ts";
import type { TokenLifetimes } from "./token-lifetimes.ts";

export interface EndedIssuance {
  /** Grants, codes, tokens and sessions deleted. */
  artifacts: number;
  /** JWT access tokens issued before this instant are refused. */
  notBefore: Date;
}

/**
 * @param owner a client (by client_id) or a user (by user id, the tokens' sub)
 * @throws whatever storage throws; nothing is half-done that a retry would not finish
 */
export async function endIssued(storage: Storage, lifetimes: TokenLifetimes, owner: { client: string } | { user: string }): Promise<EndedIssuance> {
  const notBefore = new Date();
  const expiresAt = new Date(notBefore.getTime() + (await lifetimes.longestAccessToken()) * 1000);
  // The mark first: from here on no JWT issued before it passes, even while the artifacts are deleted.
  if ("client" in owner) {
    await storage.revocations.add({ kind: "client", id: owner.client, notBefore, expiresAt });
    return { artifacts: await storage.artifacts.revokeForClient(owner.client), notBefore };
  }
  await storage.revocations.add({ kind: "subject", id: owner.user, notBefore, expiresAt });
  return { artifacts: await storage.artifacts.revokeForAccount(owner.user), notBefore };
}
