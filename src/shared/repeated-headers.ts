// Headers a request may carry once. Node keeps the first Host, Content-Length and Authorization and
// silently discards the others, while a server or proxy behind Gatehouse may read the last: the host
// routed, the body framed or the token checked would then not be the one acted on. RFC 9112 §3.2
// makes a request with two Host headers a 400; the other two get the same answer (authorization server
// and gateway alike).

const SINGLE = new Map([
  ["host", 1],
  ["content-length", 2],
  ["authorization", 4],
]);

/** The first of Host, Content-Length and Authorization that rawHeaders (name, value, name, value...) repeat, as sent; undefined when none is. */
export function repeatedHeader(rawHeaders: readonly string[]): string | undefined {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Cheap before the lower-casing: only these three lengths can match.
    if (name.length !== 4 && name.length !== 13 && name.length !== 14) continue;
    const bit = SINGLE.get(name.toLowerCase());
    if (bit === undefined) continue;
    if (seen & bit) return name;
    seen |= bit;
  }
  return undefined;
}
