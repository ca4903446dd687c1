// The request headers that belong to the gateway for one route: those it sets (identity, and whatever
// its policies set: claims, the signed token, the outbound token) and those it takes away (the client's
// token unless a policy forwards it, outbound OAuth's remove_headers). A client's copy never reaches the
// backend, under any spelling the backend may read as the same header (headerKey: case, "_" for "-").
// Computed once per route when the route table is compiled.
import { headerKey } from "../../shared/header-names.ts";
import type { PolicyHandler } from "../policies/types.ts";
import { IDENTITY_HEADERS } from "./identity-headers.ts";

/** headerKey() names the client may not send for a route with these policies. */
export function ownedHeaders(handlers: readonly PolicyHandler[]): ReadonlySet<string> {
  const given: string[] = Object.values(IDENTITY_HEADERS);
  if (!handlers.some((handler) => handler.forwardsAuthorization)) given.push("authorization");
  for (const handler of handlers) given.push(...(handler.ownedHeaders ?? []));
  return new Set(given.map(headerKey));
}
