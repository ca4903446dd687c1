// Who is calling, behind how many trusted reverse proxies (TRUST_PROXY hops). Each proxy appends the
// address it saw to X-Forwarded-For, so with N trusted hops the last N entries are theirs and the entry
// N from the right is the client as the outermost trusted proxy saw it; everything further left was
// written by the client and is worth nothing.

/** The X-Forwarded-For entries, in order, as one list (the header may be repeated). */
function entries(header: string | string[] | undefined): string[] {
  const list: string[] = [];
  for (const value of Array.isArray(header) ? header : header === undefined ? [] : [header]) {
    for (const entry of value.split(",")) {
      const trimmed = entry.trim();
      if (trimmed) list.push(trimmed);
    }
  }
  return list;
}

/**
 * The client's address: the socket's peer at the edge (hops 0), else the X-Forwarded-For entry `hops`
 * from the right (or its first entry, when there are fewer: then every entry came from trusted proxies).
 */
export function clientAddress(xForwardedFor: string | string[] | undefined, socketAddress: string | undefined, hops: number): string {
  const socket = socketAddress ?? "";
  if (hops <= 0) return socket;
  const list = entries(xForwardedFor);
  if (list.length === 0) return socket;
  return list[Math.max(0, list.length - hops)]!;
}
