// The gateway's check of headers a request may carry once (shared/repeated-headers.ts).
import { repeatedHeader } from "../../shared/repeated-headers.ts";
import { InvalidRequest } from "../errors.ts";

/** Throws InvalidRequest ("header_repeated") when rawHeaders (name, value, name, value...) repeat Host, Content-Length or Authorization. */
export function refuseRepeatedHeaders(rawHeaders: readonly string[]): void {
  const name = repeatedHeader(rawHeaders);
  if (name !== undefined) throw new InvalidRequest(`the request has more than one ${name} header`, "header_repeated");
}
