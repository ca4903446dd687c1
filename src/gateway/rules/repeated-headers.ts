// Headers a request may carry once. Node keeps the first Host, Content-Length and Authorization and
// silently discards the others, while a server or proxy behind the gateway may read the last: the
// host routed, the body framed or the token checked would then not be the one the backend acts on.
// RFC 9112 §3.2 makes a request with two Host headers a 400; the other two get the same answer.
import { InvalidRequest } from "../errors.ts";

const SINGLE = new Map([
  ["host", 1],
  ["content-length", 2],
  ["authorization", 4],
]);

/** Throws InvalidRequest ("header_repeated") when rawHeaders (name, value, name, value...) repeat one of them. */
export function refuseRepeatedHeaders(rawHeaders: readonly string[]): void {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Cheap before the lower-casing: only these three lengths can match.
    if (name.length !== 4 && name.length !== 13 && name.length !== 14) continue;
    const bit = SINGLE.get(name.toLowerCase());
    if (bit === undefined) continue;
    if (seen & bit) throw new InvalidRequest(`the request has more than one ${name} header`, "header_repeated");
    seen |= bit;
  }
}
