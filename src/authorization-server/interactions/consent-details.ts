// What the consent page lists: the OIDC scopes, claims and API scopes the client asks for and the user
// has not granted yet (oidc-provider's prompt details), each with a description people can read.
import type { Catalog } from "../catalog.ts";

/** Descriptions of the standard scopes, used unless an administrator registered their own. */
const STANDARD_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: "Sign you in with your account",
  profile: "See your profile: name, username, picture and roles",
  email: "See your email address",
  address: "See your postal address",
  phone: "See your phone number",
  offline_access: "Keep access while you are not using it",
};

/** Claims every ID token carries; they are not worth asking about. */
const PROTOCOL_CLAIMS = new Set(["sub", "sid", "auth_time", "acr", "amr", "iss"]);

export interface ScopeLine {
  name: string;
  description: string;
}

export interface ApiRequest {
  identifier: string;
  name: string;
  scopes: ScopeLine[];
}

export interface ConsentRequest {
  scopes: ScopeLine[];
  claims: string[];
  apis: ApiRequest[];
  /** Nothing new is asked: the client wants the user to confirm an earlier grant. */
  reconfirm: boolean;
}

/** The details oidc-provider attaches to a consent prompt, read defensively. */
export interface ConsentPromptDetails {
  missingOIDCScope: string[];
  missingOIDCClaims: string[];
  missingResourceScopes: Record<string, string[]>;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);

export function promptDetails(details: Record<string, unknown>): ConsentPromptDetails {
  const resources = details.missingResourceScopes;
  return {
    missingOIDCScope: strings(details.missingOIDCScope),
    missingOIDCClaims: strings(details.missingOIDCClaims),
    missingResourceScopes:
      resources && typeof resources === "object"
        ? Object.fromEntries(Object.entries(resources).map(([indicator, scopes]) => [indicator, strings(scopes)]))
        : {},
  };
}

export function describeScope(catalog: Catalog, name: string): string {
  return catalog.scopeDescription(name) || STANDARD_DESCRIPTIONS[name] || "";
}

export function consentRequest(catalog: Catalog, details: ConsentPromptDetails): ConsentRequest {
  const line = (name: string): ScopeLine => ({ name, description: describeScope(catalog, name) });
  // A scope of a requested API also reaches oidc-provider as an OIDC scope; list it under its API only.
  const apiScopes = new Set(Object.values(details.missingResourceScopes).flat());
  const scopes = details.missingOIDCScope.filter((name) => !apiScopes.has(name)).map(line);
  const claims = details.missingOIDCClaims.filter((claim) => !PROTOCOL_CLAIMS.has(claim));
  const apis = Object.entries(details.missingResourceScopes).map(([identifier, names]) => ({
    identifier,
    name: catalog.api(identifier)?.name ?? identifier,
    scopes: names.map(line),
  }));
  return { scopes, claims, apis, reconfirm: !scopes.length && !claims.length && !apis.some((api) => api.scopes.length) };
}
