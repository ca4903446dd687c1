// cors: pages of other origins may call the API from a browser (Fetch standard, "CORS protocol").
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered by the gateway itself,
// in the match stage, on the route the announced request would take: 204 with the allowed methods and
// headers for an allowed origin, 403 without any CORS header when the origin, the method or a header is
// not allowed. It needs no token and never reaches the backend.
//
// Any other request from an allowed origin gets Access-Control-Allow-Origin (and -Credentials,
// -Expose-Headers) on its response, the backend's and the gateway's own refusals alike (so a page can
// read a 401, 403 or 429; the refusals also expose WWW-Authenticate, Retry-After and the RateLimit
// fields). A disallowed origin gets no CORS header. The gateway owns CORS on such a route: the
// backend's own Access-Control-* response headers are dropped. Every response of the route carries
// Vary: Origin, since it depends on the Origin sent.
//
// Everything per origin is built once per configuration load: a request costs one Map lookup.
import { CorsRefused } from "../errors.ts";
import type { PolicyCompiler, PolicyHandler, ResponseHeaders } from "./types.ts";

/** Response headers the gateway writes for CORS (dropped from the backend's response). */
const CORS_RESPONSE_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-expose-headers",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
] as const;

/** What the gateway's refusals carry that a page should be able to read. */
const GATEWAY_EXPOSED = ["WWW-Authenticate", "Retry-After", "RateLimit-Policy", "RateLimit"];

const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/** The headers for one allowed origin, as name/value pairs. */
export interface OriginHeaders {
  /** On the backend's responses. */
  actual: ReadonlyArray<readonly [string, string]>;
  /** On the gateway's own refusals. */
  refusal: ReadonlyArray<readonly [string, string]>;
  /** The whole answer to an allowed preflight. */
  preflight: Readonly<Record<string, string>>;
}

/** Adds Origin to Vary unless it is there (or Vary is *). */
function varyOnOrigin(headers: ResponseHeaders): void {
  const vary = headers.vary;
  if (vary === undefined) {
    headers.vary = "Origin";
    return;
  }
  const text = String(vary);
  if (!/(^|,)\s*(origin|\*)\s*(,|$)/i.test(text)) headers.vary = `${text}, Origin`;
}

export const compileCors: PolicyCompiler<"cors"> = ([attachment]) => {
  const config = attachment!.config;
  const any = config.origins.includes("*");
  const methods = new Set<string>(config.methods);
  const allowedHeaders = new Set(config.headers.map((h) => h.toLowerCase()));

  const originHeaders = (origin: string): OriginHeaders => {
    const common: Array<[string, string]> = [["access-control-allow-origin", origin]];
    if (config.credentials) common.push(["access-control-allow-credentials", "true"]);
    const exposed = config.expose_headers;
    const refusalExposed = [...exposed, ...GATEWAY_EXPOSED.filter((h) => !exposed.some((e) => e.toLowerCase() === h.toLowerCase()))];
    const preflight: Record<string, string> = Object.fromEntries(common);
    preflight["access-control-allow-methods"] = config.methods.join(", ");
    if (config.headers.length) preflight["access-control-allow-headers"] = config.headers.join(", ");
    preflight["access-control-max-age"] = String(config.max_age);
    preflight.vary = PREFLIGHT_VARY;
    return {
      actual: exposed.length ? [...common, ["access-control-expose-headers", exposed.join(", ")]] : common,
      refusal: [...common, ["access-control-expose-headers", refusalExposed.join(", ")]],
      preflight,
    };
  };
  const wildcard = any ? originHeaders("*") : undefined;
  const byOrigin = new Map(any ? [] : config.origins.map((origin) => [origin, originHeaders(origin)]));
  const lookup = (origin: string | undefined): OriginHeaders | undefined => (origin === undefined ? undefined : (wildcard ?? byOrigin.get(origin)));

  const handler: PolicyHandler = {
    id: "cors",
    preflight(gw) {
      const headers = gw.request.headers;
      const allowed = lookup(headers.origin);
      if (!allowed) throw new CorsRefused(`the origin ${headers.origin} may not call this API from a browser`, "cors_origin");
      const method = String(headers["access-control-request-method"]);
      if (!methods.has(method)) throw new CorsRefused(`pages may not send ${method} requests to this API (Access-Control-Allow-Methods: ${config.methods.join(", ")})`, "cors_method");
      const requested = headers["access-control-request-headers"];
      if (requested) {
        for (const name of requested.split(",")) {
          const header = name.trim().toLowerCase();
          if (header && !allowedHeaders.has(header)) throw new CorsRefused(`pages may not send the header ${header} to this API`, "cors_headers");
        }
      }
      gw.answer = { status: 204, headers: allowed.preflight };
    },
    match(gw) {
      gw.cors = lookup(gw.request.headers.origin);
    },
    respond(gw, headers, own) {
      if (!own) {
        for (const name of CORS_RESPONSE_HEADERS) if (headers[name] !== undefined) delete headers[name];
      }
      const allowed = gw.cors;
      if (allowed) for (const [name, value] of own ? allowed.refusal : allowed.actual) headers[name] = value;
      varyOnOrigin(headers);
    },
  };
  return handler;
};
