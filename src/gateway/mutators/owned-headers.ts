// The request headers that belong to the gateway for one API: those it sets (identity, claims, the
// signed token, the outbound token) and those it takes away (the client's token when it is not
// forwarded, outbound OAuth's remove_headers). A client's copy never reaches the backend, under any
// spelling the backend may read as the same header (headerKey: case, "_" for "-").
import type { ApiRecord } from "../../storage/index.ts";
import { headerKey } from "../../shared/header-names.ts";
import { IDENTITY_HEADERS } from "./identity-headers.ts";
import { outboundHeaderNames } from "./outbound-oauth.ts";

const owned = new WeakMap<ApiRecord, ReadonlySet<string>>();

/** headerKey() names the client may not send for this API; computed once per loaded API. */
export function ownedHeaders(api: ApiRecord): ReadonlySet<string> {
  let names = owned.get(api);
  if (!names) {
    const given = [...Object.values(IDENTITY_HEADERS), ...Object.values(api.claimHeaders)];
    if (api.forwardToken !== "original") given.push("authorization");
    if (api.outboundOAuth) given.push(...outboundHeaderNames(api.outboundOAuth));
    names = new Set(given.map(headerKey));
    owned.set(api, names);
  }
  return names;
}
