// Every sample flow, in the order `gatehouse sample` lists them: each registers what it needs against the
// running server (clients `sample-<flow>`, the API https://sample-api.gatehouse.test with scope
// sample:read, trusted issuers, a gateway route), runs its flow with openid-client and prints what it got.
// Running one again brings its registrations up to date; `gatehouse client delete sample-<flow>` removes one.
import { clientCredentials } from "./client-credentials.ts";
import { deviceFlow } from "./device.ts";
import { dpop } from "./dpop.ts";
import { gateway } from "./gateway.ts";
import { implicit } from "./implicit.ts";
import { jwtBearer } from "./jwt-bearer.ts";
import { passwordFlow } from "./password.ts";
import { refresh } from "./refresh.ts";
import { revoke } from "./revoke.ts";
import { samlBearer } from "./saml-bearer.ts";
import type { Flow } from "./sample.ts";
import { spa } from "./spa.ts";
import { tokeninfo } from "./tokeninfo.ts";
import { web } from "./web.ts";

export const FLOWS: readonly Flow[] = [web, spa, implicit, deviceFlow, passwordFlow, clientCredentials, refresh, revoke, tokeninfo, jwtBearer, samlBearer, gateway, dpop];

/** The flow called `name`, or undefined. */
export function findFlow(name: string): Flow | undefined {
  return FLOWS.find((flow) => flow.name === name);
}

export { SampleError, type Flow, type SampleContext, type SampleOptions, type SampleReport } from "./sample.ts";
