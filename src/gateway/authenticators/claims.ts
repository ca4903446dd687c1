// Reading access-token claims the same way whether they come from a JWT or an introspection answer.
import { InvalidToken } from "../errors.ts";

/** RFC 9068 "scope" (space separated), or the "scp" array some issuers use instead. */
export function scopesOf(claims: Record<string, unknown>): Set<string> {
  const { scope, scp } = claims;
  if (typeof scope === "string") return new Set(scope.split(" ").filter(Boolean));
  if (Array.isArray(scp)) return new Set(scp.filter((value): value is string => typeof value === "string"));
  return new Set();
}

export function audienceIncludes(aud: unknown, identifier: string): boolean {
  return aud === identifier || (Array.isArray(aud) && aud.includes(identifier));
}

/**
 * A token bound to a key (DPoP, mTLS: a "cnf" claim) is only good with a proof of that key, which the
 * gateway does not check; accepting it as a bearer token would undo the binding.
 */
export function refuseSenderConstrained(claims: Record<string, unknown>): void {
  if (claims.cnf !== undefined) throw new InvalidToken("sender-constrained tokens are not accepted here", "token_sender_constrained");
}

export function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
