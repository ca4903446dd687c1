// Browser hardening headers for every response of the authorization server.
//
// The Content-Security-Policy is set before the response is produced, not after: oidc-provider's own
// pages (form_post, the logout auto-submit) add the hash of their inline script to an existing
// `script-src`, and would otherwise be blocked. The policy is harmless on JSON responses.
//
// form-action starts at 'self'. Pages whose forms lead to a client (the login and consent pages end in a
// redirect to the redirect_uri, the form_post page posts to it, the logout page may redirect to the
// post_logout_redirect_uri) add that one target with allowFormAction: browsers apply form-action to the
// redirects that follow a form submission, and client URIs may be http://localhost or a custom scheme.
import type { Context, Middleware } from "koa";

const HEADER = "Content-Security-Policy";

const BASE_POLICY: ReadonlyArray<readonly [string, ...string[]]> = [
  ["default-src", "'none'"],
  ["script-src", "'none'"],
  ["style-src", "'self'"],
  ["img-src", "'self'", "data:"],
  ["form-action", "'self'"],
  ["frame-ancestors", "'none'"],
  ["base-uri", "'none'"],
];

type Policy = Map<string, string[]>;

function parse(header: string): Policy {
  const policy: Policy = new Map();
  for (const directive of header.split(";")) {
    const [name, ...values] = directive.trim().split(/\s+/);
    if (name) policy.set(name.toLowerCase(), values);
  }
  return policy;
}

function serialize(policy: Policy): string {
  return [...policy].map(([name, values]) => [name, ...values].join(" ")).join("; ");
}

/** 'none' must stand alone: once a hash or source was added to a directive, drop it. */
function withoutStaleNone(policy: Policy): Policy {
  for (const [name, values] of policy) {
    if (values.length > 1 && values.includes("'none'")) policy.set(name, values.filter((v) => v !== "'none'"));
  }
  return policy;
}

/** The CSP source expression that admits a URI: its origin for http(s), its scheme for native apps. */
export function sourceFor(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  // A host a CSP source expression would read as a pattern ("*.example.com") or anything else unusual admits nothing.
  if (url.protocol === "https:" || url.protocol === "http:") return /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname) ? url.origin : undefined;
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

/** Lets forms on this response (and the redirects they lead to) go to uri. Only for validated client URIs. */
export function allowFormAction(ctx: Context, uri: unknown): void {
  const header = ctx.response.get(HEADER);
  const source = typeof uri === "string" ? sourceFor(uri) : undefined;
  if (!header || !source || ctx.headerSent) return;
  const policy = parse(header);
  const current = policy.get("form-action") ?? [];
  if (!current.includes(source)) policy.set("form-action", [...current, source]);
  ctx.set(HEADER, serialize(withoutStaleNone(policy)));
}

/**
 * @param overrides directives that replace the base policy's (the console allows its own scripts:
 *   `{ "script-src": ["'self'"] }`, and calls to itself: `{ "connect-src": ["'self'"] }`)
 */
export function securityHeaders(overrides: Record<string, string[]> = {}): Middleware {
  const policy = new Map<string, string[]>(BASE_POLICY.map(([name, ...values]) => [name, values]));
  for (const [name, values] of Object.entries(overrides)) policy.set(name, values);
  const basePolicy = serialize(policy);
  return async function setSecurityHeaders(ctx, next) {
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "no-referrer");
    ctx.set("X-Frame-Options", "DENY");
    ctx.set(HEADER, basePolicy);
    await next();
    const header = ctx.response.get(HEADER);
    // Only a policy something added to (oidc-provider's script hashes, form targets) needs tidying.
    if (header && header !== basePolicy && !ctx.headerSent) ctx.set(HEADER, serialize(withoutStaleNone(parse(header))));
  };
}
