// dpop: an API (or one route) that accepts DPoP-bound access tokens only (RFC 9449 §7.1), and the age
// window of their proofs. The handler only notes the route's settings in the match stage; the
// authenticate stage (pipeline.ts) enforces them with the proof check (authenticators/dpop.ts).
import type { DpopRouteSettings } from "../pipeline.ts";
import type { PolicyCompiler } from "./types.ts";

export const compileDpop: PolicyCompiler<"dpop"> = ([attachment]) => {
  const { required, max_age_seconds: maxAgeSeconds, require_nonce: requireNonce } = attachment!.config;
  const settings: DpopRouteSettings = { required, maxAgeSeconds, requireNonce };
  return {
    id: "dpop",
    match(gw) {
      gw.dpop = settings;
    },
  };
};
