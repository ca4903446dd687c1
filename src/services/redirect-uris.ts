// What a client may register as a redirect URI (and post-logout redirect URI), RFC 9700 §2.1 and §4.1,
// RFC 8252 §7 for native apps. The authorization endpoint compares exactly, so a URI that can never be
// safe is refused here, at registration, with a reason the administrator can act on.
import { z } from "zod";

/** Hosts that name this machine: plain http is acceptable there, and native apps may use any port (RFC 8252 §7.3). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);
/** Schemes that run code or read local data in a browser: never a redirect target. */
const DANGEROUS_SCHEMES = new Set(["javascript:", "data:", "vbscript:", "file:", "about:", "blob:", "filesystem:", "view-source:", "chrome:", "intent:"]);
/** RFC 8252 §7.1: a private-use scheme is a reverse domain name the app's publisher controls (com.example.app). */
const REVERSE_DOMAIN_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+:$/;

export type ApplicationType = "web" | "native";

/** Whether uri names this machine (127.0.0.1, [::1], localhost). */
export function isLoopback(uri: string): boolean {
  const host = URL.parse(uri)?.hostname;
  return host !== undefined && LOOPBACK_HOSTS.has(host);
}

/** Why uri cannot be registered for an application of this type, or undefined when it can. */
export function redirectUriProblem(uri: string, applicationType: ApplicationType): string | undefined {
  if (/[\s*]/.test(uri)) return "must not contain wildcards or spaces";
  if (uri.includes("#")) return "must not contain a fragment";
  const url = URL.parse(uri);
  if (!url) return "must be an absolute URI";
  const scheme = url.protocol.toLowerCase();
  if (DANGEROUS_SCHEMES.has(scheme)) return `must not use the ${scheme.slice(0, -1)} scheme`;
  if (scheme === "https:" || scheme === "http:") {
    if (url.username || url.password) return "must not contain user information";
    if (!url.hostname) return "must name a host";
    const loopback = LOOPBACK_HOSTS.has(url.hostname);
    if (scheme === "http:" && !loopback) return "must use https (plain http only on 127.0.0.1, [::1] or localhost)";
    if (scheme === "https:" && loopback && applicationType === "native") return "a native app uses http on loopback, not https";
    return undefined;
  }
  if (applicationType !== "native") return "must use https (or http on loopback); private-use schemes are for native apps only";
  if (!REVERSE_DOMAIN_SCHEME.test(scheme)) return "a private-use scheme must be a reverse domain name, e.g. com.example.app:/callback (RFC 8252 §7.1)";
  return undefined;
}

/** Adds an issue at [field, index] for every URI of the list that cannot be registered (for zod superRefine). */
export function checkRedirectUris(uris: readonly string[], applicationType: ApplicationType, field: string, ctx: z.RefinementCtx): void {
  uris.forEach((uri, index) => {
    const problem = redirectUriProblem(uri, applicationType);
    if (problem) ctx.addIssue({ code: "custom", path: [field, index], message: `${uri}: ${problem}` });
  });
}
