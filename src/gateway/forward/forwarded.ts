// Who called, as the upstream learns it: X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239) and
// X-Real-IP, always built by the gateway. Whatever a client sends under any forwarding name is
// dropped first (headers.ts), since backends and their frameworks trust these headers for client
// addresses, schemes and hosts. Behind TRUST_PROXY hops, each trusted proxy has appended the address
// it saw to X-Forwarded-For: the last `hops` entries are theirs, the one `hops` from the right is the
// client as the outermost trusted proxy saw it, and everything left of it was written by the client.
// Of X-Forwarded-Proto and X-Forwarded-Host only the rightmost entry is a trusted proxy's, and only
// "http"/"https" and a well-formed host[:port] are taken from it; otherwise the gateway's own.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { isIPv6 } from "node:net";
import type { TLSSocket } from "node:tls";
import { forwardingChain, lastEntry } from "../../shared/forwarded.ts";

/** What the gateway knows of the connection a request came in on. */
export interface Arrival {
  /** The socket's peer. */
  remoteAddress: string | undefined;
  /** TLS on the gateway's own socket. */
  encrypted: boolean;
  /** The Host header as received. */
  host: string | undefined;
  /** Trusted reverse proxies in front of the gateway (TRUST_PROXY): 0 at the edge. */
  trustedHops: number;
}

/** The Arrival of req. */
export function arrivalOf(req: IncomingMessage, trustedHops: number): Arrival {
  return { remoteAddress: req.socket.remoteAddress, encrypted: Boolean((req.socket as TLSSocket).encrypted), host: req.headers.host, trustedHops };
}

/** RFC 7239 §6: an address as a node name, an IPv6 one bracketed (and so quoted). */
function node(address: string): string {
  // isIPv6 costs more than the rest of this file per request; an IPv4 address has no ":".
  return address.includes(":") && isIPv6(address) ? `"[${address}]"` : value(address);
}

/** RFC 7239 §4: a token as is, anything else as a quoted-string. */
function value(text: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(text) ? text : `"${text.replace(/[\\"]/g, "\\$&")}"`;
}

/** A host name, IPv4 or bracketed IPv6 address, with an optional port. */
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(?::\d{1,5})?$/i;

/** The scheme a trusted proxy (only with hops > 0) stated in the last X-Forwarded-Proto entry, if it is http or https. */
function trustedProto(incoming: IncomingHttpHeaders, hops: number): string | undefined {
  const proto = hops > 0 ? lastEntry(incoming["x-forwarded-proto"])?.toLowerCase() : undefined;
  return proto === "http" || proto === "https" ? proto : undefined;
}

/** The host a trusted proxy (only with hops > 0) stated in the last X-Forwarded-Host entry, if it is one. */
function trustedHost(incoming: IncomingHttpHeaders, hops: number): string | undefined {
  const host = hops > 0 ? lastEntry(incoming["x-forwarded-host"]) : undefined;
  return host !== undefined && HOST.test(host) ? host : undefined;
}

/**
 * The scheme and host (host[:port], as in Host) of the request as the client sent it: a trusted proxy's
 * X-Forwarded-Proto and X-Forwarded-Host (only with hops > 0), else the gateway's own socket and Host
 * header. DPoP proofs' htu (RFC 9449 §4.3) is compared with it.
 */
export function clientFacing(incoming: IncomingHttpHeaders, encrypted: boolean, hops: number): { scheme: string; host: string | undefined } {
  return { scheme: trustedProto(incoming, hops) ?? (encrypted ? "https" : "http"), host: trustedHost(incoming, hops) ?? incoming.host };
}

/**
 * Writes the forwarding headers for the upstream into headers (lower-case names). The chain of
 * addresses is the trusted X-Forwarded-For entries plus the socket's peer; its first is the client
 * (X-Real-IP). Scheme and host are the gateway's own unless a trusted proxy (hops > 0) stated them.
 */
export function setForwardingHeaders(headers: IncomingHttpHeaders, incoming: IncomingHttpHeaders, arrival: Arrival): void {
  const chain = forwardingChain(incoming["x-forwarded-for"], arrival.remoteAddress, arrival.trustedHops);
  const proto = trustedProto(incoming, arrival.trustedHops) ?? (arrival.encrypted ? "https" : "http");
  const host = trustedHost(incoming, arrival.trustedHops) ?? arrival.host;

  headers["x-forwarded-proto"] = proto;
  if (host) headers["x-forwarded-host"] = host;
  // The first element describes the request as the client made it; each later one a trusted hop.
  let first = `proto=${value(proto)}`;
  if (host) first += `;host=${value(host)}`;
  if (chain.length !== 0) {
    headers["x-forwarded-for"] = chain.join(", ");
    headers["x-real-ip"] = chain[0]!;
    first = `for=${node(chain[0]!)};${first}`;
  }
  let forwarded = first;
  for (let i = 1; i < chain.length; i++) forwarded += `, for=${node(chain[i]!)}`;
  headers.forwarded = forwarded;
}
