// Ending what a client or a user was issued (Keycloak's "not before"): their grants, codes, refresh and
// opaque access tokens are deleted, a user's sessions too, and a not-before mark refuses every JWT
// access token issued before now, at introspection and at every gateway instance (which load the mark
// within CONFIG_POLL_MS). The mark is kept as long as any access token can live.
import { securityEvent } from "../shared/logger.ts";
import type { Storage } from "../storage/index.ts";
import type { TokenLifetimes } from "./token-lifetimes.ts";

export interface EndedIssuance {
  /** Grants, codes, tokens and sessions deleted. */
  artifacts: number;
  /** JWT access tokens issued before this instant are refused. */
  notBefore: Date;
}

/** Why a client's or user's tokens end: the security event logged. */
export type EndReason =
  | "client_disabled"
  | "client_deleted"
  | "client_tokens_revoked"
  | "user_disabled"
  | "user_deleted"
  | "user_password_changed"
  | "user_password_change_required"
  | "user_sessions_revoked";

/**
 * @param owner a client (by client_id) or a user (by user id, the tokens' sub)
 * @throws whatever storage throws; nothing is half-done that a retry would not finish
 */
export async function endIssued(storage: Storage, lifetimes: TokenLifetimes, owner: { client: string } | { user: string }, reason: EndReason): Promise<EndedIssuance> {
  const notBefore = new Date();
  const expiresAt = new Date(notBefore.getTime() + (await lifetimes.longestAccessToken()) * 1000);
  // The mark first: from here on no JWT issued before it passes, even while the artifacts are deleted.
  let artifacts: number;
  if ("client" in owner) {
    await storage.revocations.add({ kind: "client", id: owner.client, notBefore, expiresAt });
    artifacts = await storage.artifacts.revokeForClient(owner.client);
    securityEvent(reason, { client_id: owner.client, artifacts_revoked: artifacts });
  } else {
    await storage.revocations.add({ kind: "subject", id: owner.user, notBefore, expiresAt });
    artifacts = await storage.artifacts.revokeForAccount(owner.user);
    securityEvent(reason, { user: owner.user, artifacts_revoked: artifacts });
  }
  return { artifacts, notBefore };
}
