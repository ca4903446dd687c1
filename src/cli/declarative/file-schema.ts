// The declarative file (`apply`/`export`): snake_case keys as in OAuth client metadata (RFC 7591), each
// field validated by the very schema the services use, so the file accepts exactly what they accept.
import { z } from "zod";
import { apiSchema } from "../../services/apis.ts";
import { clientSchema, type ClientSpec, type ClientView } from "../../services/clients.ts";
import { scopeSchema } from "../../services/scopes.ts";
import { userSchema } from "../../services/users.ts";
import type { ApiRecord } from "../../storage/index.ts";

const client = clientSchema.shape;
const api = apiSchema.shape;

export const fileClientSchema = z
  .object({
    client_id: client.clientId.unwrap(),
    client_name: client.name,
    client_secret: z.string().min(32, "must be at least 32 characters").optional(),
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
    enabled: client.enabled,
  })
  .strict();

export const fileApiSchema = z
  .object({
    identifier: api.identifier,
    name: api.name,
    token_format: api.tokenFormat,
    access_token_ttl: api.accessTokenTtl,
    scopes: api.scopes,
  })
  .strict();

/** A list whose entries must differ in `key`: a repeated entry would make every apply undo the other. */
function uniqueList<T extends z.ZodObject>(entry: T, key: keyof z.infer<T> & string) {
  return z
    .array(entry)
    .default([])
    .superRefine((entries, ctx) => {
      const seen = new Set<unknown>();
      entries.forEach((e, i) => {
        const value = (e as Record<string, unknown>)[key];
        if (seen.has(value)) ctx.addIssue({ code: "custom", path: [i, key], message: `duplicate ${key} ${String(value)}` });
        seen.add(value);
      });
    });
}

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

/** `clients[2].redirect_uris[0]`: the path of a value as it would be written in the file. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

export function clientToEntry(view: ClientView): Omit<FileClient, "client_secret"> {
  return {
    client_id: view.clientId,
    client_name: view.name,
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
    enabled: view.enabled,
  };
}

export function entryToClientSpec(entry: FileClient): ClientSpec {
  return {
    clientId: entry.client_id,
    name: entry.client_name,
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
    enabled: entry.enabled,
  };
}

export function apiToEntry(record: Pick<ApiRecord, "identifier" | "name" | "tokenFormat" | "accessTokenTtl" | "scopes">): FileApi {
  return {
    identifier: record.identifier,
    name: record.name,
    token_format: record.tokenFormat,
    access_token_ttl: record.accessTokenTtl,
    scopes: record.scopes,
  };
}

export function entryToApiSpec(entry: FileApi): z.input<typeof apiSchema> {
  return {
    identifier: entry.identifier,
    name: entry.name,
    tokenFormat: entry.token_format,
    accessTokenTtl: entry.access_token_ttl,
    scopes: entry.scopes,
  };
}
