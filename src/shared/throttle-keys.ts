// Names of the password-attempt counters (storage/repositories/throttles.ts), shared by the sign-in checks
// and the administrator's unlock. Usernames are hashed: people type passwords into the username field.
// Source addresses are counted per network a client can hardly leave, not per string: an IPv4-mapped
// IPv6 address (::ffff:192.0.2.7) is its IPv4 address, and an IPv6 address counts as its /64 (one
// subscriber or LAN gets a whole /64, and picks a new address in it for free).
import crypto from "node:crypto";
import net from "node:net";

const hashed = (username: string) => crypto.hash("sha256", username, "base64url").slice(0, 32);

/** The eight 16-bit groups of a valid IPv6 address (an embedded dotted IPv4 tail is two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split(".").map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(":") && !text.endsWith("::")) text = text.slice(0, -1);
  }
  const parse = (part: string) => (part ? part.split(":").map((group) => parseInt(group, 16)) : []);
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const left = parse(head);
  const right = [...parse(rest ?? ""), ...tail];
  const zeros = rest === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/**
 * The network an address is counted as: IPv4 as is, an IPv4-mapped IPv6 address as its IPv4 address,
 * any other IPv6 address as its /64 ("2001:db8:1:2::/64"). A port some proxies append ("192.0.2.7:5123",
 * "[2001:db8::1]:443") and an IPv6 zone ("fe80::1%eth0") are dropped. Anything that is not an IP
 * address is returned as it is.
 */
export function throttleAddress(address: string): string {
  let text = address.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(":"));
  const zone = text.indexOf("%");
  if (zone > 0 && text.includes(":")) text = text.slice(0, zone);
  if (net.isIPv4(text)) return text;
  if (!net.isIPv6(text)) return address;
  const groups = ipv6Groups(text.toLowerCase());
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`;
}

export const throttleKeys = {
  /** One account from one source network (throttleAddress): the counter a stranger's guesses fill, slowing only them. */
  pair: (username: string, address: string) => `pair:${hashed(username)}:${throttleAddress(address)}`,
  /** Prefix of every pair counter of one account. */
  pairsOf: (username: string) => `pair:${hashed(username)}:`,
  /** One account from every address: the much higher ceiling against distributed guessing. */
  account: (username: string) => `account:${hashed(username)}`,
  /** One source network (throttleAddress) across every account: the ceiling against credential stuffing. */
  address: (address: string) => `address:${throttleAddress(address)}`,
};
