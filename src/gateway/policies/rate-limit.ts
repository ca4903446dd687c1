// rate_limit: requests per second, minute or hour per client, subject or address, with a burst. An API's
// limits and a route's both apply (each counts on its own: an API's across all its routes). Checked in
// the authorize stage, after the token and the route's scopes (a refused token costs nothing) and
// before anything is forwarded; the first limit used up refuses the request with 429 and the limits
// checked before it give their count back.
//
// Responses carry the limits as draft-ietf-httpapi-ratelimit-headers says (structured fields):
//   RateLimit-Policy: "client-per-minute";q=100;w=60, "address-per-second";q=10;w=1
//   RateLimit: "client-per-minute";r=42;t=1, "address-per-second";r=9;t=1
// q and w are each limit's requests and window; r is what is left now and t the seconds until one more
// request fits (on a 429, t equals Retry-After). The policy list is built once per route.
import { limitName, RATE_LIMIT_WINDOWS, type RateLimitEntry } from "../../services/policies.ts";
import { clientAddress } from "../../shared/forwarded.ts";
import { throttleAddress } from "../../shared/throttle-keys.ts";
import { TooManyRequests } from "../errors.ts";
import type { GatewayContext } from "../pipeline.ts";
import type { Principal } from "../types.ts";
import type { Limiter, LimitOutcome } from "./rate-limit-store.ts";
import type { CompileContext, PolicyCompiler, PolicyHandler } from "./types.ts";

interface CompiledLimit {
  name: string;
  limiter: Limiter;
  /** `"name";r=` — the start of this limit's RateLimit item. */
  item: string;
  /** `"name";q=100;w=60` — its RateLimit-Policy item. */
  policy: string;
}

/** The partition a request counts in for a limit; undefined when the limit does not apply to it. */
type Partition = (gw: GatewayContext) => string | undefined;

function partitioner(by: RateLimitEntry["by"], context: CompileContext): Partition {
  const issuer = context.issuer;
  // A foreign issuer's subjects cannot collide with Gatehouse's own (or with each other's).
  const subject = (principal: Principal) => (principal.issuer === issuer ? principal.subject : `${principal.issuer} ${principal.subject}`);
  switch (by) {
    case "client":
      return (gw) => {
        const principal = gw.principal;
        if (!principal) return undefined;
        if (principal.clientId !== undefined) return principal.clientId;
        const azp = principal.claims.azp;
        // A token naming no client is counted by its subject, apart from every client_id.
        return typeof azp === "string" ? azp : `\u0000${subject(principal)}`;
      };
    case "subject":
      return (gw) => (gw.principal ? subject(gw.principal) : undefined);
    case "address": {
      const hops = context.trustedHops;
      return (gw) => {
        const request = gw.request;
        const address = hops === 0 ? request.remoteAddress : clientAddress(request.headers["x-forwarded-for"], request.remoteAddress, hops);
        return networkOf(address);
      };
    }
  }
}

/** The network an address counts as (shared/throttle-keys.ts), without parsing the common IPv4 case. */
function networkOf(address: string): string {
  if (!address.includes(":")) return address;
  if (address.startsWith("::ffff:") && !address.includes(":", 7)) return address.slice(7);
  return throttleAddress(address);
}

/** A structured-field string: the names are tokens of [a-z0-9_-], nothing to escape. */
const sfString = (name: string) => `"${name}"`;

export const compileRateLimit: PolicyCompiler<"rate_limit"> = (attachments, route, context) => {
  const limits: CompiledLimit[] = [];
  const partitions: Partition[] = [];
  const taken = new Set<string>();
  for (const attachment of attachments) {
    for (const limit of attachment.config.limits) {
      // A public route has no token: only its address limits apply.
      if (route.public && limit.by !== "address") continue;
      const own = limitName(limit);
      // An API's and a route's limit may share a name; the route's is told apart.
      const name = taken.has(own) ? `${own}-route` : own;
      taken.add(name);
      const window = RATE_LIMIT_WINDOWS[limit.per];
      const limiter = context.rateLimits.limiter(`${attachment.point} ${attachment.owner} ${own} ${limit.by}`, { requests: limit.requests, windowMs: window * 1000, burst: limit.burst ?? limit.requests });
      limits.push({ name, limiter, item: `${sfString(name)};r=`, policy: `${sfString(name)};q=${limit.requests};w=${window}` });
      partitions.push(partitioner(limit.by, context));
    }
  }
  if (limits.length === 0) return { id: "rate_limit" };
  const policyField = limits.map((limit) => limit.policy).join(", ");

  const refuse = (gw: GatewayContext, limit: CompiledLimit, outcome: LimitOutcome, checked: number, keys: Array<string | undefined>): never => {
    for (let j = 0; j < checked; j++) if (keys[j] !== undefined) void limits[j]!.limiter.refund(keys[j]!);
    gw.rateLimit = `${limit.item}0;t=${outcome.resetSeconds}`;
    throw new TooManyRequests([limit.name], outcome.resetSeconds);
  };

  /** Checks limits from `from` on, synchronously while the store answers at once. */
  const check = (gw: GatewayContext, from: number, field: string, keys: Array<string | undefined>, now: number): void | Promise<void> => {
    for (let i = from; i < limits.length; i++) {
      const limit = limits[i]!;
      const key = partitions[i]!(gw);
      keys[i] = key;
      if (key === undefined) continue;
      const answer = limit.limiter.take(key, now);
      if (answer instanceof Promise) {
        return answer.then((outcome) => {
          const next = record(gw, limit, outcome, i, field, keys);
          return check(gw, i + 1, next, keys, now);
        });
      }
      field = record(gw, limit, answer, i, field, keys);
    }
    gw.rateLimit = field || undefined;
  };

  const record = (gw: GatewayContext, limit: CompiledLimit, outcome: LimitOutcome, i: number, field: string, keys: Array<string | undefined>): string => {
    if (!outcome.allowed) refuse(gw, limit, outcome, i, keys);
    const item = `${limit.item}${outcome.remaining};t=${outcome.resetSeconds}`;
    return field ? `${field}, ${item}` : item;
  };

  const handler: PolicyHandler = {
    id: "rate_limit",
    authorize(gw) {
      // One slot per limit for the partitions counted, so a refusal can give their counts back.
      const keys = limits.length === 1 ? SINGLE : new Array<string | undefined>(limits.length);
      return check(gw, 0, "", keys, Date.now());
    },
    respond(gw, headers) {
      const field = gw.rateLimit;
      if (field === undefined) return;
      append(headers, "ratelimit-policy", policyField);
      append(headers, "ratelimit", field);
    },
  };
  return handler;
};

/** For a single limit, nothing checked before it ever needs its count back: one shared slot. */
const SINGLE: Array<string | undefined> = [undefined];

/** Adds this gateway's items after the upstream's own, if it sent the field (the draft allows several lists). */
function append(headers: Record<string, unknown>, name: string, value: string): void {
  const present = headers[name];
  headers[name] = present === undefined ? value : `${String(present)}, ${value}`;
}
