// Routes compiled with their policies for tests that run the pipeline in process, as loadRouteTable
// compiles them: the signer and the outbound provider are stand-ins unless a test gives its own.
import { compilePolicies, type CompileContext } from "../../../src/gateway/policies/index.ts";
import { MemoryRateLimitStore } from "../../../src/gateway/policies/rate-limit-store.ts";
import type { OutboundTokenProvider } from "../../../src/gateway/mutators/outbound-oauth.ts";
import type { SignedTokenMinter } from "../../../src/gateway/mutators/signed-token.ts";
import type { TokenExchanger } from "../../../src/gateway/mutators/token-exchange.ts";
import type { CompiledRoute } from "../../../src/gateway/types.ts";
import type { ApiRecord, RouteRecord } from "../../../src/storage/index.ts";

export function testContext(overrides: Partial<CompileContext> = {}): CompileContext {
  return {
    issuer: "https://gatehouse.test",
    trustedHops: 0,
    rateLimits: new MemoryRateLimitStore(),
    minter: {} as SignedTokenMinter,
    outbound: {} as OutboundTokenProvider,
    exchanger: {} as TokenExchanger,
    ...overrides,
  };
}

export function compiledRoute(api: ApiRecord, route: RouteRecord, context: CompileContext = testContext()): CompiledRoute {
  return { route, api, policies: compilePolicies(api, route, context) };
}
