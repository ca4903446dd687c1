// Who is calling, behind how many trusted reverse proxies (TRUST_PROXY hops). Each proxy appends the
// address it saw to X-Forwarded-For, so with N trusted hops the last N entries are theirs and the entry
// N from the right is the client as the outermost trusted proxy saw it; everything further left was
// written by the client and is worth nothing. The other list-valued forwarding headers (scheme, host)
// are read the same way: only the rightmost entry, the one a trusted proxy wrote, counts. Used by the
// authorization server and the gateway alike.

/**
 * The trustworthy chain of addresses, the client's first: the last `hops` X-Forwarded-For entries (all
 * of them, when there are fewer) followed by the socket's peer. At the edge (hops 0), the peer alone.
 */
export function forwardingChain(xForwardedFor: string | string[] | undefined, socketAddress: string | undefined, hops: number): string[] {
  const chain: string[] = [];
  if (hops > 0 && xForwardedFor !== undefined) {
    for (const entry of String(xForwardedFor).split(",")) {
      const trimmed = entry.trim();
      if (trimmed) chain.push(trimmed);
    }
    chain.splice(0, Math.max(0, chain.length - hops));
  }
  if (socketAddress) chain.push(socketAddress);
  return chain;
}

/** The client's address: the first of forwardingChain(), or "" when nothing is known. */
export function clientAddress(xForwardedFor: string | string[] | undefined, socketAddress: string | undefined, hops: number): string {
  return forwardingChain(xForwardedFor, socketAddress, hops)[0] ?? "";
}

/**
 * The entry a trusted proxy wrote in a list-valued forwarding header other than X-Forwarded-For
 * (X-Forwarded-Proto, X-Forwarded-Host): the rightmost. A proxy that appends adds its entry last, one
 * that sets the header leaves one entry, and two copies of the header reach Node joined with ", ";
 * anything left of the last entry may be the client's. undefined when there is no non-empty entry.
 */
export function lastEntry(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === "string" ? header : header.join(",");
  const entry = text.slice(text.lastIndexOf(",") + 1).trim();
  return entry === "" ? undefined : entry;
}
