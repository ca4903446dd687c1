// Reading access-token claims the same way whether they come from a JWT or an introspection answer.

/**
 * The token's scopes, the one way every authenticator reads them: "scope" (RFC 9068 §2.2.3, RFC 7662
 * §2.2) when present, else "scp" (an array at Okta and Ory, a space-separated string at Microsoft Entra
 * ID). Either claim may be a space-separated string or an array of strings.
 */
export function scopesOf(claims: Record<string, unknown>): Set<string> {
  return scopeSet(claims.scope) ?? scopeSet(claims.scp) ?? new Set();
}

function scopeSet(claim: unknown): Set<string> | undefined {
  if (typeof claim === "string") return new Set(claim.split(" ").filter(Boolean));
  if (Array.isArray(claim)) return new Set(claim.filter((value): value is string => typeof value === "string"));
  return undefined;
}

export function audienceIncludes(aud: unknown, identifier: string): boolean {
  return aud === identifier || (Array.isArray(aud) && aud.includes(identifier));
}

export function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
