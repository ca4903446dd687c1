// How Gatehouse compares header names. Backends behind CGI, WSGI, Rack or PHP read "X-User" and
// "X_User" as the same variable (HTTP_X_USER), so a header the gateway sets, strips or relies on is
// matched under every such spelling: without case, and with "_" read as "-".

/** The name as the gateway compares it: lower case, "_" turned into "-". */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes("_") ? lower.replaceAll("_", "-") : lower;
}

/** Every header (as headerKey() gives it) that tells a backend about the client, its scheme, host or certificate. */
export const FORWARDING_HEADERS: readonly string[] = [
  "Forwarded",
  "X-Forwarded",
  "Forwarded-For",
  "X-Forwarded-For",
  "X-Forwarded-Proto",
  "X-Forwarded-Host",
  "X-Forwarded-Port",
  "X-Forwarded-Prefix",
  "X-Forwarded-Server",
  "X-Forwarded-By",
  "X-Forwarded-Ssl",
  "X-Forwarded-Scheme",
  "X-Forwarded-Protocol",
  "X-Forwarded-Client-Cert",
  "X-Original-Forwarded-For",
  "X-Original-Host",
  "X-Host",
  "X-Url-Scheme",
  "Front-End-Https",
  "X-Real-IP",
  "X-Client-IP",
  "True-Client-IP",
  "CF-Connecting-IP",
  "Fastly-Client-IP",
  "X-Cluster-Client-IP",
  "X-ProxyUser-Ip",
].map(headerKey);
