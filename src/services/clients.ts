// Client registration: the one implementation behind the CLI, the declarative file, the admin API and the
// console. Input and output use OAuth's client metadata names (RFC 7591, snake_case).
import crypto from "node:crypto";
import { z } from "zod";
import type { ClientRecord, ClientInput as ClientRow, Storage } from "../storage/index.ts";
import { securityEvent } from "../shared/logger.ts";
import { changedFields } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { endIssued, type EndedIssuance } from "./issued-tokens.ts";
import { knownScopes, requireKnown } from "./known-scopes.ts";
import { listQuerySchema, type ListQuery, type Page } from "./paging.ts";
import { generateSecret, hashSecret, verifySecret } from "./passwords.ts";
import { GRANT_RULES, GRANT_TYPES, grantWarnings, responseTypesOf, type GrantType } from "./grant-rules.ts";
import { refuseDeletingBuiltIn } from "./built-in.ts";
import { checkRedirectUris, isLoopback } from "./redirect-uris.ts";
import { checkAllowedOrigins } from "./client-origins.ts";
import { sameJson } from "./same-json.ts";
import { apiIdentifierSchema } from "./api-identifier.ts";

export { GRANT_TYPES } from "./grant-rules.ts";
export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] as const;
export const APPLICATION_TYPES = ["web", "native"] as const;

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
const ttl = z.number().int().positive().max(365 * 24 * 3600).nullable();

/**
 * RFC 6749 Appendix A.2: a client secret is printable ASCII (%x20-7E). Anything else cannot travel in
 * HTTP Basic authentication, so it would be accepted here and then fail every token request.
 */
export const clientSecretSchema = z
  .string()
  .min(32, "must be at least 32 characters")
  .max(512, "must be at most 512 characters")
  .regex(/^[\x20-\x7E]+$/, "must be printable ASCII (RFC 6749 Appendix A.2), e.g. from `openssl rand -base64 32`");

/** What a client is registered with: every field but client_name has a default. */
export const clientInputSchema = z
  .object({
    /** Generated (hex) when not given. */
    client_id: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, "3-128 characters of A-Z a-z 0-9 . _ ~ -").optional(),
    client_name: z.string().min(1).max(200),
    /** "native" (RFC 8252): an app on a device; loopback redirect URIs match on any port. */
    application_type: z.enum(APPLICATION_TYPES).default("web"),
    /** Default: true for a native app, false for a web app. */
    public: z.boolean().optional(),
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).default(["authorization_code", "refresh_token"]),
    redirect_uris: z.array(z.string()).default([]),
    post_logout_redirect_uris: z.array(z.string()).default([]),
    scopes: z.array(scopeName).default([]),
    /** Default: client_secret_basic, private_key_jwt with keys, none for a public client. */
    token_endpoint_auth_method: z.enum(AUTH_METHODS).optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).nullable().default(null),
    jwks_uri: z.url().nullable().default(null),
    access_token_ttl: ttl.default(null),
    id_token_ttl: ttl.default(null),
    refresh_token_ttl: ttl.default(null),
    /** Seconds a just-rotated refresh token may be presented once more (a lost response); null: REFRESH_TOKEN_REUSE_GRACE. */
    refresh_token_reuse_grace: z.number().int().min(0).max(300).nullable().default(null),
    /** Origins whose pages may call the token endpoints as this client (CORS), besides those of redirect_uris. */
    allowed_origins: z
      .array(z.string())
      .max(100)
      .default([])
      .describe(
        "Origins (https://app.example.com, exactly as browsers send them) whose pages may call the token, userinfo, revocation and introspection endpoints as this client, besides the origins of its redirect URIs (CORS). https, or http on loopback; no wildcards.",
      ),
    dpop_bound_access_tokens: z
      .boolean()
      .default(false)
      .describe("RFC 9449 §5.2: every access token of this client is bound to a DPoP key; a token request without a DPoP proof is refused."),
    token_exchange_targets: z
      .array(apiIdentifierSchema)
      .max(100)
      .default([])
      .describe(
        "RFC 8693: identifiers of the APIs this client may exchange a token for (the token exchange grant's resource or audience). Empty: none, even with the grant.",
      ),
    enabled: z.boolean().default(true),
    /** Set a secret of your own (for a declarative file); never shown back. Omitted: generated, or kept. */
    client_secret: clientSecretSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    checkRedirectUris(spec.redirect_uris, spec.application_type, "redirect_uris", ctx);
    checkRedirectUris(spec.post_logout_redirect_uris, spec.application_type, "post_logout_redirect_uris", ctx);
    checkAllowedOrigins(spec.allowed_origins, ctx);
  });

export type ClientInput = z.input<typeof clientInputSchema>;
type ParsedClient = z.infer<typeof clientInputSchema>;

/** A client as every front end shows it: never its secret or a hash. */
export interface ClientResource {
  client_id: string;
  client_name: string;
  application_type: "web" | "native";
  public: boolean;
  grant_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  scopes: string[];
  token_endpoint_auth_method: string;
  jwks: { keys: Record<string, unknown>[] } | null;
  jwks_uri: string | null;
  access_token_ttl: number | null;
  id_token_ttl: number | null;
  refresh_token_ttl: number | null;
  refresh_token_reuse_grace: number | null;
  /** Origins allowed CORS at the token, userinfo, revocation and introspection endpoints besides those of redirect_uris. */
  allowed_origins: string[];
  /** RFC 9449 §5.2: every access token is DPoP-bound. */
  dpop_bound_access_tokens: boolean;
  /** RFC 8693: the APIs this client may exchange tokens for. */
  token_exchange_targets: string[];
  enabled: boolean;
  response_types: string[];
  /** Why some of its grants are weaker than the authorization code flow with PKCE. */
  warnings: string[];
  has_secret: boolean;
  /** During a secret rotation's grace period: when the previous secret stops working. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A client with its secret: what create, rotate-secret and a declarative apply that generated one return, once. */
export interface ClientWithSecret {
  client: ClientResource;
  client_secret?: string;
}

export function clientResource(client: ClientRecord): ClientResource {
  return {
    client_id: client.clientId,
    client_name: client.name,
    application_type: client.applicationType,
    public: !client.confidential,
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
    allowed_origins: client.allowedOrigins,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
    token_exchange_targets: client.tokenExchangeTargets,
    enabled: client.enabled,
    response_types: client.responseTypes,
    warnings: grantWarnings(client.grantTypes),
    has_secret: !!client.secretHash,
    previous_secret_expires_at: client.previousSecretHash ? (client.previousSecretExpiresAt?.toISOString() ?? null) : null,
    created_at: client.createdAt.toISOString(),
    updated_at: client.updatedAt.toISOString(),
  };
}

/** The input that reproduces a client (for update's merge and for export): its settings, no secret. */
export function clientInputOf(resource: ClientResource): Omit<ParsedClient, "client_secret"> {
  const { response_types, warnings, has_secret, previous_secret_expires_at, created_at, updated_at, grant_types, token_endpoint_auth_method, ...settings } = resource;
  return {
    ...settings,
    grant_types: grant_types as ParsedClient["grant_types"],
    token_endpoint_auth_method: token_endpoint_auth_method as ParsedClient["token_endpoint_auth_method"],
  };
}

type Settings = Omit<ClientRow, "clientId" | "secretHash" | "previousSecretHash" | "previousSecretExpiresAt">;

/** The stored settings, after the rules that tie fields together. */
function settingsOf(spec: ParsedClient): Settings {
  const confidential = !(spec.public ?? spec.application_type === "native");
  const method = spec.token_endpoint_auth_method ?? (confidential ? (spec.jwks || spec.jwks_uri ? "private_key_jwt" : "client_secret_basic") : "none");
  const problem = (field: string, message: string) => new ValidationError([{ field, message }]);
  if (!confidential && method !== "none") throw problem("token_endpoint_auth_method", "a public client authenticates with none");
  if (confidential && method === "none") throw problem("token_endpoint_auth_method", "a confidential client cannot use none");
  if (method === "private_key_jwt" && !spec.jwks && !spec.jwks_uri) throw problem("jwks", "private_key_jwt needs jwks or jwks_uri");
  const grants: readonly GrantType[] = spec.grant_types;
  for (const grant of grants) {
    const rule = GRANT_RULES[grant];
    if (rule.confidential && !confidential) throw problem("grant_types", `a public client cannot use ${grant}`);
    if (rule.requiresOneOf && !rule.requiresOneOf.some((other) => grants.includes(other))) {
      throw problem("grant_types", `${grant} needs one of ${rule.requiresOneOf.join(", ")}`);
    }
    if (rule.redirects && spec.redirect_uris.length === 0) throw problem("redirect_uris", `required for ${grant}`);
    if (rule.redirects === "https") {
      if (spec.application_type === "native") throw problem("grant_types", `a native app cannot use ${grant}`);
      const insecure = spec.redirect_uris.findIndex((uri) => !uri.startsWith("https://") || isLoopback(uri));
      if (insecure !== -1) throw problem(`redirect_uris[${insecure}]`, `${grant} needs https redirect URIs off loopback (its tokens travel in the URL)`);
    }
  }
  return {
    name: spec.client_name,
    confidential,
    applicationType: spec.application_type,
    redirectUris: spec.redirect_uris,
    postLogoutRedirectUris: spec.post_logout_redirect_uris,
    grantTypes: spec.grant_types,
    responseTypes: responseTypesOf(grants),
    scopes: spec.scopes,
    tokenEndpointAuthMethod: method,
    jwks: spec.jwks as ClientRecord["jwks"],
    jwksUri: spec.jwks_uri,
    accessTokenTtl: spec.access_token_ttl,
    idTokenTtl: spec.id_token_ttl,
    refreshTokenTtl: spec.refresh_token_ttl,
    refreshTokenReuseGrace: spec.refresh_token_reuse_grace,
    allowedOrigins: spec.allowed_origins,
    dpopBoundAccessTokens: spec.dpop_bound_access_tokens,
    tokenExchangeTargets: spec.token_exchange_targets,
    enabled: spec.enabled,
  };
}

function needsSecret(method: string): boolean {
  return method === "client_secret_basic" || method === "client_secret_post";
}

export class ClientService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  async list(query: ListQuery = {}): Promise<Page<ClientResource>> {
    const q = parseInput(listQuerySchema, query);
    const page = await this.storage.clients.page(q);
    return { items: page.items.map(clientResource), total: page.total, offset: q.offset, limit: q.limit };
  }

  /** Every client (the CLI's list, export). */
  async all(): Promise<ClientResource[]> {
    return (await this.storage.clients.list()).map(clientResource);
  }

  async get(clientId: string): Promise<ClientResource> {
    return clientResource(await this.require(clientId));
  }

  /**
   * Registers a client. A secret it needs and was not given is generated: returned once, here, and
   * stored only as an argon2id hash.
   * @throws ConflictError when the client_id is taken, ValidationError for bad input
   */
  async create(input: ClientInput): Promise<ClientWithSecret> {
    const spec = parseInput(clientInputSchema, input);
    // Hex, so an id never starts with "-" (a command line would read it as an option).
    const clientId = spec.client_id ?? crypto.randomBytes(16).toString("hex");
    if (await this.storage.clients.find(clientId)) throw new ConflictError(`client ${clientId} already exists`);
    const settings = settingsOf(spec);
    requireKnown("scopes", settings.scopes, await knownScopes(this.storage));
    const secret = needsSecret(settings.tokenEndpointAuthMethod) ? (spec.client_secret ?? generateSecret()) : undefined;
    const record = await this.storage.clients.create({
      ...settings,
      clientId,
      secretHash: secret ? await hashSecret(secret) : null,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
    });
    const client = clientResource(record);
    await this.context.audit.record("create", "client", clientId, { ...clientInputOf(client) });
    return { client, ...(secret && !spec.client_secret ? { client_secret: secret } : {}) };
  }

  /**
   * Changes the fields given, keeping the others (a disable ends what the client was issued).
   * @param ifMatch the entity tag the change is based on (etag.ts); refused when the client changed since
   * @throws NotFoundError, ValidationError, PreconditionFailedError
   */
  async update(clientId: string, changes: Partial<ClientInput>, { ifMatch }: { ifMatch?: string } = {}): Promise<ClientResource> {
    const current = await this.require(clientId);
    checkIfMatch(clientResource(current), ifMatch);
    const merged = { ...clientInputOf(clientResource(current)), ...changes, client_id: clientId };
    return (await this.save(current, parseInput(clientInputSchema, merged))).client;
  }

  /**
   * Makes the client exactly what the input says (fields left out take their defaults), creating it when
   * it does not exist: what a declarative file does. A secret is kept unless one is given; a client that
   * now needs one and never had one gets a generated one, returned once.
   */
  async apply(input: ClientInput & { client_id: string }): Promise<ClientWithSecret & { outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(clientInputSchema, input);
    const current = await this.storage.clients.find(input.client_id);
    if (!current) {
      const created = await this.create(input);
      return { ...created, outcome: "created" };
    }
    return this.save(current, spec);
  }

  /**
   * Gives the client a new secret, returned once. With grace_seconds, the old secret keeps working that
   * long beside the new one (so the client's deployments can switch without downtime), then stops.
   * @param graceSeconds 0 (the old secret stops at once) to 30 days
   */
  async rotateSecret(clientId: string, { graceSeconds = 0 }: { graceSeconds?: number } = {}): Promise<Required<ClientWithSecret>> {
    const current = await this.require(clientId);
    if (!needsSecret(current.tokenEndpointAuthMethod)) throw new ValidationError(`client ${clientId} does not authenticate with a secret`);
    const grace = parseInput(z.number().int().min(0).max(30 * 24 * 3600), graceSeconds, "grace_seconds");
    const secret = generateSecret();
    const record = await this.storage.clients.update(clientId, {
      secretHash: await hashSecret(secret),
      previousSecretHash: grace > 0 ? current.secretHash : null,
      previousSecretExpiresAt: grace > 0 ? new Date(Date.now() + grace * 1000) : null,
    });
    securityEvent("client_secret_rotated", { client_id: clientId, grace_seconds: grace });
    await this.context.audit.record("rotate_secret", "client", clientId, { grace_seconds: grace });
    return { client: clientResource(record), client_secret: secret };
  }

  /**
   * Ends every grant, code and token the client holds, keeping the client: refresh and opaque access
   * tokens are deleted, JWT access tokens issued until now are refused (one-second resolution: wait a
   * second before asking for a new token). Consents stay.
   */
  async revokeTokens(clientId: string): Promise<EndedIssuance> {
    await this.require(clientId);
    const ended = await endIssued(this.storage, this.context.lifetimes, { client: clientId }, "client_tokens_revoked");
    await this.context.audit.record("revoke_tokens", "client", clientId, { artifacts_revoked: ended.artifacts });
    return ended;
  }

  /** Deletes the client, the consents given to it and everything it was issued. */
  /** @throws ConflictError for the console's own client; NotFoundError */
  async delete(clientId: string): Promise<void> {
    refuseDeletingBuiltIn("client", clientId);
    if (!(await this.storage.clients.delete(clientId))) throw new NotFoundError(`client ${clientId} not found`);
    await this.storage.consents.deleteForClient(clientId);
    await endIssued(this.storage, this.context.lifetimes, { client: clientId }, "client_deleted");
    await this.context.audit.record("delete", "client", clientId);
  }

  /** Stores new settings (and a secret, if given) for an existing client; reports whether anything changed. */
  private async save(current: ClientRecord, spec: ParsedClient): Promise<ClientWithSecret & { outcome: "updated" | "unchanged" }> {
    const settings = settingsOf(spec);
    requireKnown("scopes", settings.scopes, await knownScopes(this.storage));
    let secretHash = current.secretHash;
    let generated: string | undefined;
    if (!needsSecret(settings.tokenEndpointAuthMethod)) secretHash = null;
    else if (spec.client_secret !== undefined) {
      if (!secretHash || !(await verifySecret(secretHash, spec.client_secret))) secretHash = await hashSecret(spec.client_secret);
    } else if (!secretHash) {
      generated = generateSecret();
      secretHash = await hashSecret(generated);
    }
    const before = clientResource(current);
    const changed = secretHash !== current.secretHash || Object.entries(settings).some(([k, v]) => !sameJson(v, current[k as keyof ClientRecord]));
    if (!changed) return { client: before, outcome: "unchanged" };
    const record = await this.storage.clients.update(current.clientId, { ...settings, secretHash });
    if (current.enabled && !record.enabled) await endIssued(this.storage, this.context.lifetimes, { client: current.clientId }, "client_disabled");
    const client = clientResource(record);
    const changes: Record<string, unknown> = changedFields(clientInputOf(before), clientInputOf(client));
    if (secretHash !== current.secretHash) changes.client_secret = "changed";
    await this.context.audit.record("update", "client", current.clientId, changes);
    return { client, outcome: "updated", ...(generated ? { client_secret: generated } : {}) };
  }

  private async require(clientId: string): Promise<ClientRecord> {
    const client = await this.storage.clients.find(clientId);
    if (!client) throw new NotFoundError(`client ${clientId} not found`);
    return client;
  }
}
