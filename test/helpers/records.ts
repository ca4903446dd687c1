// Stored records built in memory for unit tests; each test states only the fields it is about.
import type { ApiRecord } from "../../src/storage/index.ts";

/** An API with every gateway setting at its default. */
export function apiRecord(overrides: Partial<ApiRecord> = {}): ApiRecord {
  return {
    identifier: "https://api.example.com/orders",
    name: "Orders",
    tokenFormat: "jwt",
    accessTokenTtl: 3600,
    scopes: [],
    tokenCheck: "jwt",
    trustedIssuers: [],
    allowQueryToken: false,
    introspectionClients: [],
    policies: {},
    ...overrides,
  };
}
