// What a client may hold of the gateway (shared/client-limits.ts, the same limits as the authorization
// server's port) under the gateway's own settings, with its refusal: 503 TooManyConnections as every
// other gateway refusal is written and logged.
import type http from "node:http";
import * as shared from "../shared/client-limits.ts";
import { log } from "../shared/logger.ts";
import { TooManyConnections } from "./errors.ts";
import { errorBody, writeSocketError } from "./forward/forwarder.ts";

export type { ClientLimits } from "../shared/client-limits.ts";

/** Options for http.createServer. @throws RangeError when the headers may take longer than the whole request */
export function timeoutOptions(limits: shared.ClientLimits): http.ServerOptions {
  return shared.timeoutOptions(limits, { headersTimeout: "GATEWAY_HEADERS_TIMEOUT_MS", requestTimeout: "GATEWAY_REQUEST_TIMEOUT_MS" });
}

/** Applies the idle timeout and the per-address connection limit to a server made with timeoutOptions(). */
export function applyClientLimits(server: http.Server, limits: shared.ClientLimits): void {
  shared.applyClientLimits(server, limits, (socket, address) => {
    const refusal = new TooManyConnections();
    log.info("gateway refused", { status: refusal.status, reason: refusal.reason, stage: "connect", address });
    writeSocketError(socket, refusal.status, refusal.headers, errorBody(refusal));
  });
}
