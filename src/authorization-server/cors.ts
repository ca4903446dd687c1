// CORS at the endpoints a browser client calls with its client id or token (token, userinfo, revocation,
// introspection, device authorization): only pages of the client's own origins (services/client-origins.ts)
// get Access-Control-Allow-Origin, through oidc-provider's clientBasedCORS hook; a request from another
// origin is refused by oidc-provider (400 invalid_request) without any CORS header, so the page cannot
// read even the refusal. An error raised before any client is known (an unknown client id, a bad userinfo
// token) carries no CORS header either, whatever the origin (clientCorsHeaders below). Discovery and the JWKS stay open to every origin, as oidc-provider serves them.
import type { Configuration, KoaContextWithOIDC } from "oidc-provider";
import type { Middleware } from "koa";
import type { Catalog } from "./catalog.ts";

/** oidc-provider's names of the endpoints with client-based CORS; their preflights are "cors." + the name. */
const CLIENT_ROUTES = ["token", "userinfo", "revocation", "introspection", "device_authorization", "pushed_authorization_request"];
const CLIENT_CORS_ROUTES = new Set(CLIENT_ROUTES);
const CLIENT_PREFLIGHTS = new Set(CLIENT_ROUTES.map((route) => `cors.${route}`));
/** Every CORS response header oidc-provider sets. */
const CORS_RESPONSE_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
];

/** The `clientBasedCORS` configuration function: whether origin is one of the client's CORS origins. */
export function clientBasedCors(catalog: Catalog): NonNullable<Configuration["clientBasedCORS"]> {
  return function clientBasedCORS(_ctx, origin, client) {
    return catalog.corsOrigins(client.clientId).has(origin);
  };
}

/**
 * Narrows what oidc-provider answers at the client-based endpoints. oidc-provider sets
 * Access-Control-Allow-Origin to the request's Origin before it knows the client and asks clientBasedCORS
 * only once a client is assigned, so an error raised before that (an unknown client_id, a bad userinfo
 * token) would carry the caller's origin, and any page could tell unknown client ids from known ones.
 * Here a request's CORS headers are kept only when a client was established (the authenticated client;
 * at userinfo the token's client) and the Origin is one of that client's origins: a response where no
 * client was established has no CORS header at all, even for an origin another client has (the page sees
 * an opaque network error, as for any refused CORS request). A preflight names no client, so oidc-provider
 * allows every origin in it; only origins some enabled client has keep its CORS headers. A request without
 * an Origin header (not a CORS request: a server, curl) gets no Access-Control-Allow-Origin: * either.
 */
export function clientCorsHeaders(catalog: Catalog): Middleware {
  return async function clientCorsHeaders(ctx, next) {
    await next();
    const route = (ctx as unknown as KoaContextWithOIDC).oidc?.route;
    if (route === undefined || ctx.headerSent) return;
    const preflight = CLIENT_PREFLIGHTS.has(route);
    if (!preflight && !CLIENT_CORS_ROUTES.has(route)) return;
    const origin = ctx.get("Origin");
    if (origin && (preflight ? catalog.isCorsOrigin(origin) : allowedForClient(ctx as unknown as KoaContextWithOIDC, catalog, origin))) return;
    // By name: cheaper than listing the response's headers on every token request (getHeaders copies them).
    for (const name of CORS_RESPONSE_HEADERS) ctx.res.removeHeader(name);
  };
}

/** Whether the response may carry CORS for origin: a client was established and origin is one of its own. */
function allowedForClient(ctx: KoaContextWithOIDC, catalog: Catalog, origin: string): boolean {
  const client = ctx.oidc.client;
  return client !== undefined && ctx.res.hasHeader("access-control-allow-origin") && catalog.corsOrigins(client.clientId).has(origin);
}
