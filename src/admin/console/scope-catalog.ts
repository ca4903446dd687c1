// The scopes a client may be allowed, grouped as the console's pickers show them: OpenID Connect's
// standard scopes, each API's scopes, then registered scopes no API lists.
import type { Services } from "../../services/index.ts";
import { STANDARD_SCOPES } from "../../services/scopes.ts";

/** Descriptions of the standard scopes (the consent page's wording). */
const STANDARD_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: "Sign in: an ID token with the user's id",
  offline_access: "Refresh tokens while the user is away",
  profile: "Name, username, picture and roles",
  email: "Email address",
  address: "Postal address",
  phone: "Phone number",
};

export interface ScopeOption {
  name: string;
  description: string;
}

export interface ScopeGroup {
  label: string;
  /** The API's identifier, for an API's group. */
  identifier?: string;
  /** OpenID Connect's own scopes. */
  standard?: boolean;
  scopes: ScopeOption[];
}

export async function scopeGroups(services: Services): Promise<ScopeGroup[]> {
  const [registered, apis] = await Promise.all([services.scopes.list(), services.apis.list()]);
  const described = new Map(registered.map((s) => [s.name, s.description]));
  const option = (name: string): ScopeOption => ({ name, description: described.get(name) || STANDARD_DESCRIPTIONS[name] || "" });
  const inApis = new Set(apis.flatMap((a) => a.scopes));
  const groups: ScopeGroup[] = [{ label: "OpenID Connect", standard: true, scopes: STANDARD_SCOPES.map(option) }];
  for (const api of apis) if (api.scopes.length) groups.push({ label: api.name, identifier: api.identifier, scopes: api.scopes.map(option) });
  const others = registered.filter((s) => !inApis.has(s.name) && !STANDARD_SCOPES.includes(s.name));
  if (others.length) groups.push({ label: "Other registered scopes", scopes: others.map((s) => option(s.name)) });
  return groups;
}
