// Routes and APIs built in memory for the rule tests; each test states only what it is about.
import type { ApiRecord, RouteRecord } from "../../../src/storage/index.ts";
import { apiRecord } from "../../helpers/records.ts";
import type { CompiledRoute } from "../../../src/gateway/types.ts";
import { NO_POLICIES } from "../../../src/gateway/policies/index.ts";

export const ORDERS_API: ApiRecord = apiRecord();

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
    policies: {},
    ...fields,
  };
}

export function compiled(fields: Partial<RouteRecord> & { id: string }): CompiledRoute {
  return { route: routeRecord(fields), api: ORDERS_API, policies: NO_POLICIES };
}
