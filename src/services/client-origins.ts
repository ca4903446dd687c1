// Which web origins may call the authorization server's token, userinfo, revocation and introspection
// endpoints from a browser as a given client (CORS): the origins of its registered redirect URIs, where
// its pages already live, plus the ones listed in allowed_origins (a single-page app served from one
// origin that signs in through another, a back office calling /introspect). Never "*".
import { z } from "zod";
import { originProblem } from "./origins.ts";
import { isLoopback } from "./redirect-uris.ts";

/**
 * Why origin cannot be listed in a client's allowed_origins, or undefined when it can: it must be written
 * exactly as browsers send it in the Origin header (RFC 6454: scheme://host[:port], lower case, no default
 * port, no path), https, or http on loopback as redirect URIs may.
 */
export function allowedOriginProblem(origin: string): string | undefined {
  const problem = originProblem(origin, "allowed_origins");
  if (problem) return `must be ${problem}`;
  if (URL.parse(origin)!.protocol === "http:" && !isLoopback(origin)) return "must use https (plain http only on 127.0.0.1, [::1] or localhost)";
  return undefined;
}

/** Adds an issue at ["allowed_origins", index] for every origin that cannot be listed or is listed twice (for zod superRefine). */
export function checkAllowedOrigins(origins: readonly string[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  origins.forEach((origin, index) => {
    const problem = seen.has(origin) ? "is listed twice" : allowedOriginProblem(origin);
    if (problem) ctx.addIssue({ code: "custom", path: ["allowed_origins", index], message: `${origin}: ${problem}` });
    seen.add(origin);
  });
}

/**
 * Every origin a client's pages may call the endpoints from: those of its http(s) redirect URIs (a native
 * app's private-use scheme has no web origin) and its allowed_origins.
 */
export function corsOriginsOf(client: { redirectUris: readonly string[]; allowedOrigins: readonly string[] }): Set<string> {
  const origins = new Set(client.allowedOrigins);
  for (const uri of client.redirectUris) {
    const url = URL.parse(uri);
    if (url && (url.protocol === "https:" || url.protocol === "http:")) origins.add(url.origin);
  }
  return origins;
}
