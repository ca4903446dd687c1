// The first step of every request to the authorization server, before any route or oidc-provider sees it.
//  - A request with a repeated Host, Content-Length or Authorization header is refused (RFC 9112 §3.2,
//    §6.3): two copies mean two parsers may disagree about the request.
//  - Every URL Gatehouse emits (discovery, redirects, Location, pages) is built from ISSUER, never from
//    what the client says: Host and the forwarding headers are replaced with the issuer's host and
//    scheme, and X-Forwarded-For with the one client address worth believing (TRUST_PROXY hops), so
//    oidc-provider and Koa, which read these headers, derive everything from the issuer.
import type { Middleware } from "koa";
import { clientAddress } from "../shared/forwarded.ts";
import { FORWARDING_HEADERS, headerKey } from "../shared/header-names.ts";
import { repeatedHeader } from "../shared/repeated-headers.ts";

const FORWARDING = new Set(FORWARDING_HEADERS);

/**
 * @param issuer the ISSUER URL; its host and scheme become the request's.
 * @param trustedHops TRUST_PROXY: how many reverse proxies in front are trusted to append X-Forwarded-For.
 */
export function requestHygiene(issuer: string, trustedHops: number): Middleware {
  const { host, protocol } = new URL(issuer);
  const scheme = protocol.slice(0, -1);
  return async function requestHygiene(ctx, next) {
    const { req } = ctx;
    const repeated = repeatedHeader(req.rawHeaders);
    if (repeated) {
      ctx.status = 400;
      ctx.set("Cache-Control", "no-store");
      ctx.set("Connection", "close");
      ctx.body = { error: "invalid_request", error_description: `the ${repeated.toLowerCase()} header appears more than once` };
      return;
    }
    const address = clientAddress(req.headers["x-forwarded-for"], req.socket.remoteAddress, trustedHops);
    for (const name of Object.keys(req.headers)) if (FORWARDING.has(headerKey(name))) delete req.headers[name];
    req.headers.host = host;
    req.headers["x-forwarded-host"] = host;
    req.headers["x-forwarded-proto"] = scheme;
    req.headers["x-forwarded-for"] = address;
    await next();
  };
}
