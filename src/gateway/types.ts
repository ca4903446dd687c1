// The shapes every gateway stage shares: the compiled route table entry, the request as the
// pipeline sees it, and the principal an authenticator establishes.
import type { IncomingHttpHeaders } from "node:http";
import type { ApiRecord, RouteRecord } from "../storage/index.ts";
import type { CompiledPolicies } from "./policies/types.ts";

/** A route joined with its API and the handlers of the policies that apply to it, ready for matching and enforcement. */
export interface CompiledRoute {
  route: RouteRecord;
  api: ApiRecord;
  policies: CompiledPolicies;
}

/** What the pipeline knows about one request (HTTP or WebSocket upgrade). */
export interface GatewayRequest {
  method: string;
  /** The normalized path that was matched; the upstream receives exactly this (after rewrite). */
  path: string;
  /** The raw query string without "?", passed through unchanged (except a removed access_token). */
  query: string;
  host: string;
  headers: IncomingHttpHeaders;
  remoteAddress: string;
}

/** Who is calling, as established by an authenticator from a valid access token. */
export interface Principal {
  subject: string;
  clientId: string | undefined;
  scopes: Set<string>;
  issuer: string;
  /** Every claim of the token (or of the introspection response). */
  claims: Record<string, unknown>;
  /** Unix seconds. */
  expiresAt: number;
  /** The access token as presented. */
  token: string;
}
