// How the gateway compares header names. Backends behind CGI, WSGI, Rack or PHP read "X-User" and
// "X_User" as the same variable (HTTP_X_USER), so a header the gateway sets, strips or relies on is
// matched under every such spelling: without case, and with "_" read as "-".

/** The name as the gateway compares it: lower case, "_" turned into "-". */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes("_") ? lower.replaceAll("_", "-") : lower;
}
