// Routes and APIs built in memory for the rule tests; each test states only what it is about.
import type { ApiRecord, RouteRecord } from "../../../src/storage/index.ts";
import type { CompiledRoute } from "../../../src/gateway/types.ts";

export const ORDERS_API: ApiRecord = {
  identifier: "https://api.example.com/orders",
  name: "Orders",
  tokenFormat: "jwt",
  accessTokenTtl: 3600,
  scopes: [],
  tokenCheck: "jwt",
  trustedIssuers: [],
  allowQueryToken: false,
  claimHeaders: {},
  forwardToken: "none",
  outboundOAuth: null,
};

export function routeRecord(fields: Partial<RouteRecord> & { id: string }): RouteRecord {
  return {
    apiIdentifier: ORDERS_API.identifier,
    pathPrefix: "/",
    host: null,
    methods: [],
    upstream: "http://backend:8080",
    rewrite: "strip",
    scopes: {},
    public: false,
    timeoutMs: 30_000,
    maxBodyBytes: 1024 * 1024,
    ...fields,
  };
}

export function compiled(fields: Partial<RouteRecord> & { id: string }): CompiledRoute {
  return { route: routeRecord(fields), api: ORDERS_API };
}
