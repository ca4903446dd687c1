// A complete HTTP response written straight onto a socket that asked for an upgrade, for refusing
// it (401 with WWW-Authenticate, 502, ...): there is no ServerResponse for upgrade requests.
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from "node:http";
import type { Duplex } from "node:stream";
import type { GatewayError } from "../errors.ts";

export function writeSocketError(socket: Duplex, status: number, headers: Record<string, string>, body: object): void {
  const payload = JSON.stringify(body);
  const fields = new Map<string, string>([["cache-control", "no-store"]]);
  for (const [name, value] of Object.entries(headers)) fields.set(name.toLowerCase(), value);
  fields.set("content-type", "application/json");
  fields.set("content-length", String(Buffer.byteLength(payload)));
  fields.set("connection", "close");
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
  for (const [name, value] of fields) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    lines.push(`${name}: ${value}`);
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`${lines.join("\r\n")}\r\n\r\n${payload}`, () => socket.destroy());
}

/** The JSON body the gateway answers errors with (RFC 6749 §5.2 field names). */
export function errorBody(error: GatewayError): { error: string; error_description: string } {
  return { error: error.code, error_description: error.message };
}
