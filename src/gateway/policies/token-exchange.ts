// token_exchange: the backend receives a token exchanged for its own API (RFC 8693,
// mutators/token-exchange.ts) in Authorization, instead of the caller's. The header is owned (a
// caller's copy never reaches the backend) and its value is a secret.
import type { PolicyCompiler, PolicyHandler } from "./types.ts";

export const compileTokenExchange: PolicyCompiler<"token_exchange"> = ([attachment], route, context) => {
  const { audience, scope } = attachment!.config;
  const exchanger = context.exchanger;
  const handler: PolicyHandler = {
    id: "token_exchange",
    ownedHeaders: ["authorization"],
    secretHeaders: ["authorization"],
    async mutate(gw, target) {
      // A public route has no caller token: nothing to exchange, and nothing of the caller's is sent.
      const token = gw.principal?.token;
      if (!token) return;
      target.setHeaders.authorization = `Bearer ${await exchanger.exchange(token, audience, scope, route.apiIdentifier)}`;
    },
  };
  return handler;
};
