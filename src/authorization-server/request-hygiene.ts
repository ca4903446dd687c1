// The first step of every request to the authorization server, before any route or oidc-provider sees it.
//  - A request with a repeated Host, Content-Length or Authorization header is refused (RFC 9112 §3.2,
//    §6.3): two copies mean two parsers may disagree about the request.
//  - The request target must be an absolute path (origin-form, RFC 9112 §3.2.1). Absolute-form
//    (GET http://evil.example/... , which Koa would otherwise take as the request's URL and origin),
//    authority-form and asterisk-form are refused with 400, except OPTIONS *, which is answered here; so
//    are a path starting with "//" and a backslash in the path, which URL resolution reads as another
//    host. Nothing reads ctx.url or ctx.href before this.
//  - Every URL Gatehouse emits (discovery, redirects, Location, pages) is built from ISSUER, never from
//    what the client says: Host and the forwarding headers are replaced with the issuer's host and
//    scheme, and X-Forwarded-For with the one client address worth believing (TRUST_PROXY hops), so
//    oidc-provider and Koa, which read these headers, derive everything from the issuer.
//  - No value that a database cannot hold reaches one (shared/storable-text.ts): a path, query, form or
//    JSON body, or HTTP Basic credentials containing a NUL (%00, \u0000), a lone surrogate or bytes that
//    are not UTF-8 are refused with 400 invalid_request, or 401 invalid_client when they are the client's
//    credentials at a token endpoint. The body is read here for that (form and JSON bodies only, at most
//    maxBodyBytes) and put back into the request stream, unchanged, for whoever reads it next.
import { isUtf8 } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Context, Middleware } from "koa";
import { clientAddress } from "../shared/forwarded.ts";
import { headerKey, isForwardingHeader } from "../shared/header-names.ts";
import { repeatedHeader } from "../shared/repeated-headers.ts";
import { unstorableTextIn } from "../shared/storable-text.ts";


/** Endpoints where client_id and client_secret authenticate the client: bad ones are invalid_client there. */
const CLIENT_AUTHENTICATION_PATHS = new Set(["/token", "/introspect", "/revoke", "/device/auth"]);
const CLIENT_CREDENTIALS = new Set(["client_id", "client_secret", "client_assertion"]);
/** Bodies read and checked: the ones oidc-provider, the pages and the admin API parse into values. */
const FORM = "application/x-www-form-urlencoded";
const JSON_TYPES = ["application/json", "application/*+json"];
/** Methods OPTIONS * answers with (RFC 9110 §9.3.7). */
const ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS";
/** At least the largest body anything behind reads (oidc-provider's own limit is 56 KiB). */
const MIN_BODY_SCAN_BYTES = 64 * 1024;

export interface RequestHygieneOptions {
  /** MAX_BODY_BYTES: form and JSON bodies up to this size (and at least 64 KiB) are checked here. */
  maxBodyBytes?: number;
}

/** Why the request target is not an absolute path the server answers (RFC 9112 §3.2), or undefined. */
export function requestTargetProblem(method: string, target: string): string | undefined {
  if (target === "*") return method === "OPTIONS" ? undefined : "the asterisk-form request target (*) is only for OPTIONS";
  if (!target.startsWith("/")) {
    return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)
      ? "the request target must be a path, not an absolute URI (absolute-form)"
      : "the request target must be a path (origin-form)";
  }
  const path = target.split("?", 1)[0]!;
  if (path.startsWith("//")) return "the request target must not start with //";
  if (path.includes("\\")) return "the request target's path must not contain a backslash";
  return undefined;
}

/**
 * The bytes percent-encoded text stands for (application/x-www-form-urlencoded and URI rules alike:
 * "%XX" is a byte, anything else stands for itself). text holds bytes as Latin-1 characters (req.url) or
 * is a Buffer already.
 */
function percentDecoded(text: string | Buffer): Buffer {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  if (!bytes.includes(0x25)) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let length = 0;
  const hex = (byte: number) => (byte >= 0x30 && byte <= 0x39 ? byte - 0x30 : (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66 ? (byte | 0x20) - 0x57 : -1);
  for (let i = 0; i < bytes.length; i++) {
    const high = bytes[i] === 0x25 && i + 2 < bytes.length ? hex(bytes[i + 1]!) : -1;
    const low = high >= 0 ? hex(bytes[i + 2]!) : -1;
    if (low >= 0) {
      out[length++] = (high << 4) | low;
      i += 2;
    } else out[length++] = bytes[i]!;
  }
  return out.subarray(0, length);
}

/** Text a database can hold once decoded: UTF-8 without NUL (a lone surrogate is not UTF-8 either). */
const storableBytes = (bytes: Buffer) => !bytes.includes(0) && isUtf8(bytes);

/** The first name=value pair of a query or form whose name or value is not storable, by its name. */
function unstorableField(encoded: string | Buffer): string | undefined {
  const bytes = typeof encoded === "string" ? Buffer.from(encoded, "latin1") : encoded;
  // Without a percent sign every name and value stands for its own bytes: storable bytes are storable fields.
  if (!bytes.includes(0x25) && storableBytes(bytes)) return undefined;
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x26, start);
    if (end < 0) end = bytes.length;
    const pair = bytes.subarray(start, end);
    const equals = pair.indexOf(0x3d);
    const name = percentDecoded(equals < 0 ? pair : pair.subarray(0, equals));
    const value = equals < 0 ? Buffer.alloc(0) : percentDecoded(pair.subarray(equals + 1));
    if (!storableBytes(name) || !storableBytes(value)) return storableBytes(name) ? name.toString("utf8") : "(a parameter name)";
    start = end + 1;
  }
  return undefined;
}

/** The client_id and client_secret of an HTTP Basic Authorization header (RFC 6749 §2.3.1), undecoded. */
function basicCredentials(authorization: string | undefined): Buffer | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization ?? "");
  return match ? Buffer.from(match[1]!, "base64") : undefined;
}

/** The refusal for a value no database can hold. */
interface Refusal {
  status: 400 | 401;
  error: "invalid_request" | "invalid_client";
  description: string;
  basic?: boolean;
}

function refuse(ctx: Context, refusal: Refusal, issuerHost: string): void {
  ctx.status = refusal.status;
  ctx.set("Cache-Control", "no-store");
  if (refusal.basic) ctx.set("WWW-Authenticate", `Basic realm="${issuerHost}"`);
  ctx.body = { error: refusal.error, error_description: refusal.description };
}

const BAD_TEXT = "contains a NUL character or is not valid UTF-8";

/** Checks the path, the query and Basic credentials: everything but the body. */
function headProblem(ctx: Context): Refusal | undefined {
  const target = ctx.req.url ?? "/";
  const query = target.indexOf("?");
  const path = query < 0 ? target : target.slice(0, query);
  if (!storableBytes(percentDecoded(path))) return { status: 400, error: "invalid_request", description: `the request path ${BAD_TEXT}` };
  if (query >= 0) {
    const field = unstorableField(target.slice(query + 1));
    if (field !== undefined) return { status: 400, error: "invalid_request", description: `the ${field} parameter ${BAD_TEXT}` };
  }
  const basic = basicCredentials(ctx.req.headers.authorization);
  if (basic) {
    const colon = basic.indexOf(0x3a);
    const [id, secret] = colon < 0 ? [basic, Buffer.alloc(0)] : [basic.subarray(0, colon), basic.subarray(colon + 1)];
    for (const [name, value] of [["client_id", id], ["client_secret", secret]] as const) {
      if (!storableBytes(percentDecoded(value))) return { status: 401, error: "invalid_client", description: `client authentication failed: the ${name} ${BAD_TEXT}`, basic: true };
    }
  }
  return undefined;
}

/** Checks a form or JSON body that has been read whole. */
function bodyProblem(ctx: Context, type: string, body: Buffer): Refusal | undefined {
  if (type === FORM) {
    const field = unstorableField(body);
    if (field === undefined) return undefined;
    if (CLIENT_CREDENTIALS.has(field) && CLIENT_AUTHENTICATION_PATHS.has(ctx.path)) {
      return { status: 401, error: "invalid_client", description: `client authentication failed: the ${field} ${BAD_TEXT}` };
    }
    return { status: 400, error: "invalid_request", description: `the ${field} parameter ${BAD_TEXT}` };
  }
  if (!isUtf8(body)) return { status: 400, error: "invalid_request", description: "the JSON body is not valid UTF-8" };
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined; // malformed JSON: whoever reads it says so
  }
  const field = unstorableTextIn(value);
  return field === undefined ? undefined : { status: 400, error: "invalid_request", description: `${field} in the JSON body contains a NUL character or an unpaired surrogate` };
}

/** Resolves once the request has more of its body, or has ended, failed or closed. */
function bodyProgress(req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      req.off("readable", progress).off("end", progress).off("close", progress).off("error", settle);
      if (error) reject(error);
      else resolve();
    };
    const progress = () => settle();
    req.on("readable", progress).on("end", progress).on("close", progress).on("error", settle);
  });
}

/**
 * Reads the body, up to just past limit bytes, without taking it from anyone: what was read is put back at
 * the front of the request stream (Readable#unshift, which exists for this) before the stream ends, so
 * every later reader (oidc-provider, forms, the admin API) reads the whole body as if nobody had before,
 * from the request itself. Resolves to the body, or to undefined when it is larger than limit (only its
 * beginning was read then, and put back too).
 * @throws when the request fails or closes before its body is complete
 */
async function peekBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for (;;) {
      // read() only while something is buffered: a read() past the end would end the stream for everyone.
      while (req.readableLength > 0) {
        const chunk = req.read() as Buffer;
        chunks.push(chunk);
        size += chunk.length;
      }
      if (req.complete || size > limit) break;
      if (req.destroyed || req.readableEnded) throw new Error("the request closed before its body was complete");
      await bodyProgress(req);
    }
  } finally {
    if (size > 0 && !req.destroyed) req.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  }
  return size > limit ? undefined : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * @param issuer the ISSUER URL; its host and scheme become the request's.
 * @param trustedHops TRUST_PROXY: how many reverse proxies in front are trusted to append X-Forwarded-For.
 */
export function requestHygiene(issuer: string, trustedHops: number, options: RequestHygieneOptions = {}): Middleware {
  const { host, protocol } = new URL(issuer);
  const scheme = protocol.slice(0, -1);
  const scanLimit = Math.max(options.maxBodyBytes ?? 0, MIN_BODY_SCAN_BYTES);
  return async function requestHygiene(ctx, next) {
    const { req } = ctx;
    const refuseRequest = (description: string) => {
      ctx.status = 400;
      ctx.set("Cache-Control", "no-store");
      ctx.set("Connection", "close");
      ctx.body = { error: "invalid_request", error_description: description };
    };
    const repeated = repeatedHeader(req.rawHeaders);
    if (repeated) return refuseRequest(`the ${repeated.toLowerCase()} header appears more than once`);
    const targetProblem = requestTargetProblem(req.method ?? "GET", req.url ?? "");
    if (targetProblem) return refuseRequest(targetProblem);
    if (req.url === "*") {
      ctx.status = 204;
      ctx.set("Allow", ALLOWED_METHODS);
      ctx.set("Cache-Control", "no-store");
      return;
    }

    const address = clientAddress(req.headers["x-forwarded-for"], req.socket.remoteAddress, trustedHops);
    for (const name of Object.keys(req.headers)) if (isForwardingHeader(headerKey(name))) delete req.headers[name];
    req.headers.host = host;
    req.headers["x-forwarded-host"] = host;
    req.headers["x-forwarded-proto"] = scheme;
    req.headers["x-forwarded-for"] = address;

    const inHead = headProblem(ctx);
    if (inHead) return refuse(ctx, inHead, host);
    const type = ctx.is(FORM, ...JSON_TYPES);
    if (type && (ctx.request.length ?? 0) <= scanLimit) {
      let body: Buffer | undefined;
      try {
        body = await peekBody(req, scanLimit);
      } catch {
        return refuseRequest("the request body could not be read");
      }
      // A body too large for anyone behind is handed on unchecked: whoever reads it refuses it.
      const inBody = body && bodyProblem(ctx, type === FORM ? FORM : "json", body);
      if (inBody) return refuse(ctx, inBody, host);
    }
    await next();
  };
}
