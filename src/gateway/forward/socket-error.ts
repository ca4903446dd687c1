// A complete HTTP response written straight onto a socket that asked for an upgrade, for refusing
// it (401 with WWW-Authenticate, 502, ...): there is no ServerResponse for upgrade requests.
import type { GatewayError } from "../errors.ts";

/** A complete HTTP response written straight onto the socket, then closed. */
export { writeSocketResponse as writeSocketError } from "../../shared/client-limits.ts";

/** The JSON body the gateway answers errors with (RFC 6749 §5.2 field names). */
export function errorBody(error: GatewayError): { error: string; error_description: string } {
  return { error: error.code, error_description: error.message };
}
