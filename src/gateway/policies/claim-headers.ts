// claim_headers: token claims to the backend as headers. Compiled into a list of (claim, header) pairs;
// a claim the token lacks sends nothing. The header names are owned: a client's copy never passes.
import { headerValue } from "../mutators/identity-headers.ts";
import type { PolicyCompiler, PolicyHandler } from "./types.ts";

export const compileClaimHeaders: PolicyCompiler<"claim_headers"> = ([attachment]) => {
  const pairs = Object.entries(attachment!.config.claims).map(([claim, header]) => [claim, header.toLowerCase()] as const);
  const handler: PolicyHandler = {
    id: "claim_headers",
    ownedHeaders: pairs.map(([, header]) => header),
    mutate(gw, target) {
      const principal = gw.principal;
      if (!principal) return;
      for (const [claim, header] of pairs) {
        const value = headerValue(principal.claims[claim]);
        if (value !== undefined) target.setHeaders[header] = value;
      }
    },
  };
  return handler;
};
