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

/** The scheme and, when the URI has one, the authority ("//" up to the first "/", "?" or "#") as written, and the rest. */
const PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/[^/?#]*)?(.*)$/s;

/**
 * Whether uri is already what the WHATWG URL parser serializes it to (the form browsers and oidc-provider
 * compare), allowing only a different case in the scheme and the authority. Anything else (a missing or
 * extra "/", a default port, dot segments, an unencoded character, a percent-encoded or numeric host,
 * leading or trailing controls) means two parsers can read the URI differently, so it is not registered.
 */
function isCanonical(uri: string, url: URL): boolean {
  if (uri === url.href) return true;
  const parts = PARTS.exec(uri);
  if (!parts) return false;
  const [, scheme, authority = "", rest] = parts as unknown as [string, string, string | undefined, string];
  return `${scheme.toLowerCase()}${authority.toLowerCase()}${rest}` === url.href;
}

/**
 * Why uri cannot be registered for an application of this type, or undefined when it can. A URI must be
 * in canonical form (isCanonical), without a backslash (WHATWG reads it as "/" in http(s) URIs, RFC 3986
 * parsers as part of the authority or path) and without user information as any parser reads it (an "@"
 * in the authority): https://example.com\@evil.com/cb is example.com to a browser and evil.com to others.
 */
export function redirectUriProblem(uri: string, applicationType: ApplicationType): string | undefined {
  if (/[\s*]/.test(uri)) return "must not contain wildcards or spaces";
  if (uri.includes("#")) return "must not contain a fragment";
  if (uri.includes("\\")) return "must not contain a backslash";
  const url = URL.parse(uri);
  if (!url) return "must be an absolute URI";
  const scheme = url.protocol.toLowerCase();
  if (DANGEROUS_SCHEMES.has(scheme)) return `must not use the ${scheme.slice(0, -1)} scheme`;
  const authority = PARTS.exec(uri)?.[2];
  if (url.username || url.password || authority?.includes("@")) return "must not contain user information";
  const web = scheme === "https:" || scheme === "http:";
  if (web && (authority === "//" || !url.hostname)) return "must name a host";
  if (!isCanonical(uri, url)) return `must be written in canonical form: ${url.href}`;
  if (web) {
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
