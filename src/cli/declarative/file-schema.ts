// The declarative file (`apply`/`export`): snake_case keys as in OAuth client metadata (RFC 7591), each
// field validated by the very schema the services use, so the file accepts exactly what they accept.
import { z } from "zod";
import { apiSchema, outboundOAuthSchema, type ApiSpec, type ApiView } from "../../services/apis.ts";
import { clientSchema, clientSecretSchema, type ClientSpec, type ClientView } from "../../services/clients.ts";
import { checkRedirectUris } from "../../services/redirect-uris.ts";
import { routeSchema, type RouteSpec } from "../../services/routes.ts";
import { scopeSchema } from "../../services/scopes.ts";
import { userSchema } from "../../services/users.ts";
import type { RouteRecord } from "../../storage/index.ts";

const client = clientSchema.shape;
const api = apiSchema.shape;
const issuer = api.trustedIssuers.unwrap().element.shape;
const outbound = outboundOAuthSchema.shape;
const route = routeSchema.shape;
const routeScopes = route.scopes.unwrap();
const requirement = routeScopes.valueType.shape;

/** The methods a route can match, as the route service names them. */
export const ROUTE_METHODS = route.methods.unwrap().element.options;

export const fileClientSchema = z
  .object({
    client_id: client.clientId.unwrap(),
    client_name: client.name,
    client_secret: clientSecretSchema.optional(),
    application_type: client.applicationType,
    public: client.public,
    grant_types: client.grantTypes,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    scopes: client.scopes,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    jwks: client.jwks,
    jwks_uri: client.jwksUri,
    access_token_ttl: client.accessTokenTtl,
    id_token_ttl: client.idTokenTtl,
    refresh_token_ttl: client.refreshTokenTtl,
    refresh_token_reuse_grace: client.refreshTokenReuseGrace,
    enabled: client.enabled,
  })
  .strict()
  .superRefine((entry, ctx) => {
    checkRedirectUris(entry.redirect_uris, entry.application_type, "redirect_uris", ctx);
    checkRedirectUris(entry.post_logout_redirect_uris, entry.application_type, "post_logout_redirect_uris", ctx);
  });

/**
 * A list whose entries must differ in `keys` (taken together): a repeated entry would make every apply
 * undo the other.
 */
function uniqueList<T extends z.ZodObject>(entry: T, ...keys: (keyof z.infer<T> & string)[]) {
  return z
    .array(entry)
    .default([])
    .superRefine((entries, ctx) => {
      const seen = new Set<string>();
      entries.forEach((e, i) => {
        const values = keys.map((key) => (e as Record<string, unknown>)[key]);
        const id = JSON.stringify(values);
        if (seen.has(id)) {
          const described = keys.flatMap((key, k) => (values[k] == null ? [] : [`${key} ${String(values[k])}`])).join(", ");
          ctx.addIssue({ code: "custom", path: [i, keys[0]!], message: `duplicate ${described}` });
        }
        seen.add(id);
      });
    });
}

/**
 * A route, nested under its API. `scopes` maps a method ("GET", ...) or "*" (every other method) to the
 * scopes a request needs: all of all_of, and one of any_of when any_of is not empty.
 */
export const fileRouteSchema = z
  .object({
    path_prefix: route.pathPrefix,
    host: route.host,
    methods: route.methods,
    upstream: route.upstream,
    rewrite: route.rewrite,
    scopes: z
      .partialRecord(routeScopes.keyType, z.object({ all_of: requirement.allOf, any_of: requirement.anyOf }).strict())
      .default({}),
    public: route.public,
    timeout_ms: route.timeoutMs,
    max_body_bytes: route.maxBodyBytes,
  })
  .strict();

/**
 * Client credentials the gateway uses at another identity provider. Its values may hold ${NAME}
 * references, which apply keeps as written: the gateway resolves them at request time. client_secret is
 * never exported; omitted, the stored one is kept.
 */
export const fileOutboundOAuthSchema = z
  .object({
    token_url: outbound.tokenUrl,
    client_id: outbound.clientId,
    client_secret: outbound.clientSecret,
    auth_method: outbound.authMethod,
    scope: outbound.scope,
    resource: outbound.resource,
    header: outbound.header,
    remove_headers: outbound.removeHeaders,
  })
  .strict();

export const fileApiSchema = z
  .object({
    identifier: api.identifier,
    name: api.name,
    token_format: api.tokenFormat,
    access_token_ttl: api.accessTokenTtl,
    scopes: api.scopes,
    token_check: api.tokenCheck,
    trusted_issuers: z.array(z.object({ issuer: issuer.issuer, jwks_uri: issuer.jwksUri, algorithms: issuer.algorithms }).strict()).default([]),
    allow_query_token: api.allowQueryToken,
    claim_headers: api.claimHeaders,
    forward_token: api.forwardToken,
    outbound_oauth: fileOutboundOAuthSchema.nullable().default(null),
    introspection_clients: api.introspectionClients,
    routes: uniqueList(fileRouteSchema, "path_prefix", "host"),
  })
  .strict();

export const declarativeFileSchema = z
  .object({
    scopes: uniqueList(scopeSchema, "name"),
    apis: uniqueList(fileApiSchema, "identifier"),
    clients: uniqueList(fileClientSchema, "client_id"),
    users: uniqueList(userSchema, "username"),
  })
  .strict();

export type DeclarativeFile = z.infer<typeof declarativeFileSchema>;
type FileClient = z.infer<typeof fileClientSchema>;
type FileApi = z.infer<typeof fileApiSchema>;
type FileRoute = z.infer<typeof fileRouteSchema>;

/** `clients[2].redirect_uris[0]`: the path of a value as it would be written in the file. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

export function clientToEntry(view: ClientView): Omit<FileClient, "client_secret"> {
  return {
    client_id: view.clientId,
    client_name: view.name,
    application_type: view.applicationType,
    public: !view.confidential,
    grant_types: view.grantTypes as FileClient["grant_types"],
    redirect_uris: view.redirectUris,
    post_logout_redirect_uris: view.postLogoutRedirectUris,
    scopes: view.scopes,
    token_endpoint_auth_method: view.tokenEndpointAuthMethod as FileClient["token_endpoint_auth_method"],
    jwks: view.jwks,
    jwks_uri: view.jwksUri,
    access_token_ttl: view.accessTokenTtl,
    id_token_ttl: view.idTokenTtl,
    refresh_token_ttl: view.refreshTokenTtl,
    refresh_token_reuse_grace: view.refreshTokenReuseGrace,
    enabled: view.enabled,
  };
}

export function entryToClientSpec(entry: FileClient): ClientSpec {
  return {
    clientId: entry.client_id,
    name: entry.client_name,
    applicationType: entry.application_type,
    public: entry.public,
    grantTypes: entry.grant_types,
    redirectUris: entry.redirect_uris,
    postLogoutRedirectUris: entry.post_logout_redirect_uris,
    scopes: entry.scopes,
    tokenEndpointAuthMethod: entry.token_endpoint_auth_method,
    jwks: entry.jwks,
    jwksUri: entry.jwks_uri,
    accessTokenTtl: entry.access_token_ttl,
    idTokenTtl: entry.id_token_ttl,
    refreshTokenTtl: entry.refresh_token_ttl,
    refreshTokenReuseGrace: entry.refresh_token_reuse_grace,
    enabled: entry.enabled,
  };
}

/** An API's own settings as the file writes them (its routes are listed apart): never the outbound client secret. */
export function apiToEntry(view: ApiView): Omit<FileApi, "routes" | "outbound_oauth"> & {
  outbound_oauth: Omit<NonNullable<FileApi["outbound_oauth"]>, "client_secret"> | null;
} {
  const out = view.outboundOAuth;
  return {
    identifier: view.identifier,
    name: view.name,
    token_format: view.tokenFormat,
    access_token_ttl: view.accessTokenTtl,
    scopes: view.scopes,
    token_check: view.tokenCheck,
    trusted_issuers: view.trustedIssuers.map((t) => ({ issuer: t.issuer, jwks_uri: t.jwksUri, algorithms: t.algorithms as FileApi["trusted_issuers"][number]["algorithms"] })),
    allow_query_token: view.allowQueryToken,
    claim_headers: view.claimHeaders,
    forward_token: view.forwardToken,
    introspection_clients: view.introspectionClients,
    outbound_oauth: out && {
      token_url: out.tokenUrl,
      client_id: out.clientId,
      auth_method: out.authMethod,
      scope: out.scope,
      resource: out.resource,
      header: out.header,
      remove_headers: out.removeHeaders,
    },
  };
}

export function entryToApiSpec(entry: FileApi): ApiSpec {
  const out = entry.outbound_oauth;
  return {
    identifier: entry.identifier,
    name: entry.name,
    tokenFormat: entry.token_format,
    accessTokenTtl: entry.access_token_ttl,
    scopes: entry.scopes,
    tokenCheck: entry.token_check,
    trustedIssuers: entry.trusted_issuers.map((t) => ({ issuer: t.issuer, jwksUri: t.jwks_uri, algorithms: t.algorithms })),
    allowQueryToken: entry.allow_query_token,
    claimHeaders: entry.claim_headers,
    forwardToken: entry.forward_token,
    introspectionClients: entry.introspection_clients,
    outboundOAuth: out && {
      tokenUrl: out.token_url,
      clientId: out.client_id,
      clientSecret: out.client_secret,
      authMethod: out.auth_method,
      scope: out.scope,
      resource: out.resource,
      header: out.header,
      removeHeaders: out.remove_headers,
    },
  };
}

/** A route as the file writes it, without its id and API (the entry it is nested in). */
export function routeToEntry(record: RouteRecord): FileRoute {
  return {
    path_prefix: record.pathPrefix,
    host: record.host,
    methods: record.methods as FileRoute["methods"],
    upstream: record.upstream,
    rewrite: record.rewrite,
    scopes: Object.fromEntries(Object.entries(record.scopes).map(([method, r]) => [method, { all_of: r.allOf, any_of: r.anyOf }])),
    public: record.public,
    timeout_ms: record.timeoutMs,
    max_body_bytes: record.maxBodyBytes,
  };
}

export function entryToRouteSpec(apiIdentifier: string, entry: FileRoute): RouteSpec {
  return {
    apiIdentifier,
    pathPrefix: entry.path_prefix,
    host: entry.host,
    methods: entry.methods,
    upstream: entry.upstream,
    rewrite: entry.rewrite,
    scopes: Object.fromEntries(Object.entries(entry.scopes).map(([method, r]) => [method, { allOf: r!.all_of, anyOf: r!.any_of }])),
    public: entry.public,
    timeoutMs: entry.timeout_ms,
    maxBodyBytes: entry.max_body_bytes,
  };
}
