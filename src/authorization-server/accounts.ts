// Accounts for oidc-provider: users by id, their claims filtered by scope through the `claims` table below.
import type { KoaContextWithOIDC, Account } from "oidc-provider";
import type { AccountUser } from "./catalog.ts";

/** Which claims each scope releases (OIDC Core §5.4, plus roles with profile). */
export const CLAIMS_BY_SCOPE = {
  openid: ["sub"],
  profile: [
    "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
    "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "roles",
  ],
  email: ["email", "email_verified"],
  address: ["address"],
  phone: ["phone_number", "phone_number_verified"],
};

/**
 * oidc-provider's findAccount: the enabled user whose id is `sub`, with the claims its scopes release.
 * @param users where users are found by id: the catalog, which holds those in use (catalog.ts)
 */
export function accountFinder(users: { findUser(id: string): Promise<AccountUser | undefined> }) {
  return async function findAccount(_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
    const user = await users.findUser(sub);
    if (!user || !user.enabled) return undefined;
    return {
      accountId: user.id,
      claims: () => ({
        ...user.claims,
        sub: user.id,
        preferred_username: user.username,
        roles: user.roles,
        updated_at: Math.floor(user.updatedAt.getTime() / 1000),
        ...(user.email ? { email: user.email, email_verified: user.claims.email_verified === true } : {}),
      }),
    };
  };
}
