// Web origins as browsers send them in the Origin header: the one check behind a client's
// allowed_origins and the gateway cors policy's origins.

/**
 * Why origin is not an origin exactly as browsers send it (RFC 6454 serialization: scheme://host[:port],
 * http or https, lower case, no default port, no user info, no path), or undefined when it is. A wildcard
 * in the host (https://*.example.com) is refused by name: no browser sends one, so it would match nothing.
 * @param field the field being checked (allowed_origins, origins), named by the wildcard's message
 */
export function originProblem(origin: string, field: string): string | undefined {
  const url = URL.parse(origin);
  const form = "an origin exactly as browsers send it, scheme://host[:port] with no path";
  if (url && (url.protocol === "https:" || url.protocol === "http:") && /^https?:\/\/[^/?#\s\\@]*\*/.test(origin)) {
    return `${form}: ${field} takes no wildcard in the host (${url.host}), list each origin`;
  }
  if (!url || !/^https?:\/\/[^/?#\s\\@*]+$/.test(origin) || url.origin !== origin) {
    const web = url && (url.protocol === "https:" || url.protocol === "http:") && !url.username && !url.password;
    return `${form}${web ? ` (here ${url.origin})` : ""}`;
  }
  return undefined;
}
