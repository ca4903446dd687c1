// forward_token: which token the backend receives. "original" lets the client's Authorization header
// through; "signed" sends X-Gatehouse-Token, a short-lived JWT signed with Gatehouse's active key
// (mutators/signed-token.ts); "none" sends neither (as without the policy).
import { IDENTITY_HEADERS } from "../mutators/identity-headers.ts";
import type { PolicyCompiler, PolicyHandler } from "./types.ts";

export const compileForwardToken: PolicyCompiler<"forward_token"> = ([attachment], route, context) => {
  const { mode } = attachment!.config;
  const handler: PolicyHandler = { id: "forward_token", forwardsAuthorization: mode === "original" };
  if (mode !== "signed") return handler;
  const audience = route.apiIdentifier;
  return {
    ...handler,
    secretHeaders: [IDENTITY_HEADERS.token],
    mutate(gw, target) {
      const principal = gw.principal;
      if (!principal) return;
      return context.minter.mint(audience, principal).then((token) => {
        target.setHeaders[IDENTITY_HEADERS.token] = token;
      });
    },
  };
};
