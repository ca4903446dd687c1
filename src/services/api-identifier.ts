// An API's identifier, as every schema that names an API takes it (an API's own, a client's token
// exchange targets, the gateway's token_exchange policy).
import { z } from "zod";

/** An API's identifier (its resource indicator, RFC 8707 §2): an absolute http(s) URI or a URN. */
export const apiIdentifierSchema = z.url({ protocol: /^(https?|urn)$/ }).or(z.string().regex(/^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i));
