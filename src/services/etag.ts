// Versions of a resource for optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): the entity tag is a
// digest of the resource as shown, so any change to it, by anyone, changes the tag.
import crypto from "node:crypto";
import { PreconditionFailedError } from "./errors.ts";
import { canonicalJson } from "./same-json.ts";

/** A strong entity tag, quoted as HTTP writes it. */
export function etagOf(resource: unknown): string {
  return `"${crypto.hash("sha256", canonicalJson(resource), "base64url").slice(0, 22)}"`;
}

/**
 * @param ifMatch the If-Match the caller sent (a tag, a list of tags, or *), if any
 * @throws PreconditionFailedError when it names none of the current version
 */
export function checkIfMatch(resource: unknown, ifMatch: string | undefined): void {
  if (ifMatch === undefined || ifMatch.trim() === "*") return;
  const current = etagOf(resource);
  const given = ifMatch.split(",").map((tag) => tag.trim().replace(/^W\//, ""));
  if (!given.includes(current)) throw new PreconditionFailedError("the resource changed since it was read (If-Match)");
}
