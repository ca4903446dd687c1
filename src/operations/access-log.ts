// Access logs: one line per request, written when its response has ended, for either server:
//   {"level":"info","time":…,"msg":"access","server":"gateway","request_id":…,"method":"GET","path":"/orders/42",
//    "status":200,"duration_ms":1.42,"api":…,"route":…,"client_id":…,"reason":"allowed"}
// The path is never followed by the query (it can carry access_token=…); the logger's redaction applies
// to every field anyway. Off with ACCESS_LOG=false, or with LOG_LEVEL above info.
import { log, logsAt } from "../shared/logger.ts";

export type ServerName = "gateway" | "authorization-server";

export interface AccessEntry {
  requestId: string;
  method: string | undefined;
  /** The request target (path and query, as received): only the path is written. */
  url: string | undefined;
  status: number;
  seconds: number;
  /** The API's identifier (gateway: the matched route's API; authorization server: the token's resource). */
  api?: string | undefined;
  /** The gateway's route id, or the authorization server's endpoint. */
  route?: string | undefined;
  /** The calling client: the token's client_id at the gateway, the client at the authorization server. */
  clientId?: string | undefined;
  /** Why: the gateway's decision ("allowed" or a refusal's reason id), the OAuth error code of a refusal. */
  reason?: string | undefined;
  /** The client went away before the response ended. */
  aborted?: boolean;
}

export interface AccessLog {
  readonly enabled: boolean;
  write(entry: AccessEntry): void;
}

const MAX_PATH = 1024;

/** The path of a request target, without its query, cut at 1024 characters. */
export function pathOf(url: string | undefined): string {
  if (!url) return "";
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path;
}

const DISABLED: AccessLog = { enabled: false, write: () => undefined };

/** The fields of an access log line (everything but level, time and msg). */
export function accessFields(server: ServerName, entry: AccessEntry): Record<string, unknown> {
  return {
    server,
    request_id: entry.requestId,
    method: entry.method,
    path: pathOf(entry.url),
    status: entry.status,
    duration_ms: Math.round(entry.seconds * 1_000_000) / 1000,
    api: entry.api,
    route: entry.route,
    client_id: entry.clientId,
    reason: entry.reason,
    aborted: entry.aborted || undefined,
  };
}

/** The access log of one server; a no-op when disabled (ACCESS_LOG=false). */
export function accessLog(server: ServerName, enabled: boolean): AccessLog {
  if (!enabled) return DISABLED;
  return {
    enabled: true,
    write(entry: AccessEntry): void {
      if (logsAt("info")) log.info("access", accessFields(server, entry));
    },
  };
}
