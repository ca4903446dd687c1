// APIs (resource servers): the audience of their access tokens, and how the gateway protects them.
import { z } from "zod";
import type { ApiRecord, OutboundOAuth, Storage } from "../storage/index.ts";
import { changedFields } from "./audit.ts";
import { refuseDeletingBuiltIn } from "./built-in.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { sameJson } from "./same-json.ts";
import { seal, unseal } from "./sealing.ts";
import { ASYMMETRIC_ALGORITHMS } from "../shared/algorithms.ts";
import { TRUSTED_TOKEN_TYPES } from "../storage/repositories/apis.ts";

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "invalid header name");
/** A URL, or a ${NAME} reference resolved from the deployment's environment when used. */
const urlOrReference = z.string().refine((v) => /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v) || URL.canParse(v), "must be a URL or contain a ${NAME} reference");

/**
 * Client credentials the gateway uses at another identity provider. Its values may hold ${NAME}
 * references, which are stored as written: the gateway resolves them at request time. client_secret is
 * never shown back; omitted, the stored one is kept.
 */
export const outboundOAuthSchema = z
  .object({
    token_url: urlOrReference,
    client_id: z.string().min(1),
    client_secret: z.string().min(1).optional(),
    auth_method: z.enum(["basic", "body"]).default("basic"),
    scope: z.string().min(1).nullable().default(null),
    resource: z.string().min(1).nullable().default(null),
    header: headerName.default("Authorization"),
    remove_headers: z.array(headerName).default([]),
  })
  .strict();

export const apiInputSchema = z
  .object({
    identifier: z.url({ protocol: /^(https?|urn)$/ }).or(z.string().regex(/^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i)),
    name: z.string().min(1).max(200),
    token_format: z.enum(["jwt", "opaque"]).default("jwt"),
    access_token_ttl: z.number().int().positive().max(24 * 3600).default(3600),
    scopes: z.array(scopeName).default([]),
    token_check: z.enum(["jwt", "introspection"]).default("jwt"),
    trusted_issuers: z
      .array(
        z
          .object({
            issuer: z.url(),
            jwks_uri: z.url(),
            algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).default(["RS256", "ES256"]),
            /** The JWT typ values accepted (absent: at+jwt, JWT or none, minus tokens with an ID token's marks). */
            token_types: z.array(z.enum(TRUSTED_TOKEN_TYPES)).min(1).optional(),
          })
          .strict(),
      )
      .default([]),
    allow_query_token: z.boolean().default(false),
    claim_headers: z.record(z.string().min(1), headerName).default({}),
    forward_token: z.enum(["none", "original", "signed"]).default("none"),
    outbound_oauth: outboundOAuthSchema.nullable().default(null),
    /** Clients that act as this API's resource server: besides a token's own client and the gateway, only they may introspect its tokens. */
    introspection_clients: z.array(z.string().min(1).max(128)).default([]),
  })
  .strict();

export type ApiInput = z.input<typeof apiInputSchema>;
type ParsedApi = z.infer<typeof apiInputSchema>;

/** An API as every front end shows it: the outbound client secret never, sealed or not. */
export type ApiResource = Omit<ParsedApi, "outbound_oauth"> & {
  outbound_oauth: (Omit<NonNullable<ParsedApi["outbound_oauth"]>, "client_secret"> & { has_client_secret: true }) | null;
};

export function apiResource(api: ApiRecord): ApiResource {
  const out = api.outboundOAuth;
  return {
    identifier: api.identifier,
    name: api.name,
    token_format: api.tokenFormat,
    access_token_ttl: api.accessTokenTtl,
    scopes: api.scopes,
    token_check: api.tokenCheck,
    trusted_issuers: api.trustedIssuers.map((t) => ({
      issuer: t.issuer,
      jwks_uri: t.jwksUri,
      algorithms: t.algorithms as (typeof ASYMMETRIC_ALGORITHMS)[number][],
      ...(t.tokenTypes ? { token_types: t.tokenTypes as (typeof TRUSTED_TOKEN_TYPES)[number][] } : {}),
    })),
    allow_query_token: api.allowQueryToken,
    claim_headers: api.claimHeaders,
    forward_token: api.forwardToken,
    outbound_oauth: out && {
      token_url: out.tokenUrl,
      client_id: out.clientId,
      auth_method: out.authMethod,
      scope: out.scope,
      resource: out.resource,
      header: out.header,
      remove_headers: out.removeHeaders,
      has_client_secret: true,
    },
    introspection_clients: api.introspectionClients,
  };
}

/** The input that reproduces an API: the outbound secret left out, so the stored one is kept. */
export function apiInputOf(resource: ApiResource): ParsedApi {
  const { outbound_oauth: out, ...settings } = resource;
  if (!out) return { ...settings, outbound_oauth: null };
  const { has_client_secret, ...outbound } = out;
  return { ...settings, outbound_oauth: outbound };
}

export class ApiService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  async list(): Promise<ApiResource[]> {
    return (await this.storage.apis.list()).map(apiResource);
  }

  async get(identifier: string): Promise<ApiResource> {
    return apiResource(await this.require(identifier));
  }

  /** @throws ConflictError when an API with this identifier exists */
  async create(input: ApiInput): Promise<ApiResource> {
    const spec = parseInput(apiInputSchema, input);
    if (await this.storage.apis.find(spec.identifier)) throw new ConflictError(`api ${spec.identifier} already exists`);
    return (await this.save(null, spec)).api;
  }

  /** Changes the fields given, keeping the others; within outbound_oauth too, the secret included. */
  async update(identifier: string, changes: Partial<ApiInput>, { ifMatch }: { ifMatch?: string } = {}): Promise<ApiResource> {
    const current = await this.require(identifier);
    const resource = apiResource(current);
    checkIfMatch(resource, ifMatch);
    const base = apiInputOf(resource);
    const outbound =
      changes.outbound_oauth === undefined ? base.outbound_oauth : changes.outbound_oauth && base.outbound_oauth ? { ...base.outbound_oauth, ...changes.outbound_oauth } : changes.outbound_oauth;
    return (await this.save(current, parseInput(apiInputSchema, { ...base, ...changes, outbound_oauth: outbound, identifier }))).api;
  }

  /** Makes the API exactly what the input says, creating it when it does not exist (a declarative file). */
  async apply(input: ApiInput): Promise<{ api: ApiResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(apiInputSchema, input);
    return this.save(await this.storage.apis.find(spec.identifier), spec);
  }

  /** @throws ConflictError for the admin API; NotFoundError */
  async delete(identifier: string): Promise<void> {
    refuseDeletingBuiltIn("api", identifier);
    if (!(await this.storage.apis.delete(identifier))) throw new NotFoundError(`api ${identifier} not found`);
    await this.storage.revisions.bump("config");
    await this.context.audit.record("delete", "api", identifier);
  }

  private async save(current: ApiRecord | null, spec: ParsedApi): Promise<{ api: ApiResource; outcome: "created" | "updated" | "unchanged" }> {
    const record: ApiRecord = {
      identifier: spec.identifier,
      name: spec.name,
      tokenFormat: spec.token_format,
      accessTokenTtl: spec.access_token_ttl,
      scopes: spec.scopes,
      tokenCheck: spec.token_check,
      trustedIssuers: spec.trusted_issuers.map((t) => ({ issuer: t.issuer, jwksUri: t.jwks_uri, algorithms: t.algorithms, ...(t.token_types ? { tokenTypes: t.token_types } : {}) })),
      allowQueryToken: spec.allow_query_token,
      claimHeaders: spec.claim_headers,
      forwardToken: spec.forward_token,
      outboundOAuth: this.outbound(spec.outbound_oauth, current?.outboundOAuth ?? null),
      introspectionClients: spec.introspection_clients,
    };
    if (current && sameJson(current, record)) return { api: apiResource(current), outcome: "unchanged" };
    const api = apiResource(await this.storage.apis.upsert(record));
    await this.storage.revisions.bump("config");
    if (current) {
      const changes: Record<string, unknown> = changedFields(apiInputOf(apiResource(current)), apiInputOf(api));
      if (current.outboundOAuth?.clientSecretSealed !== record.outboundOAuth?.clientSecretSealed && record.outboundOAuth) changes.outbound_client_secret = "changed";
      await this.context.audit.record("update", "api", api.identifier, changes);
    } else {
      await this.context.audit.record("create", "api", api.identifier, { ...apiInputOf(api) });
    }
    return { api, outcome: current ? "updated" : "created" };
  }

  /** The stored outbound settings: the secret sealed, the stored one kept when it is unchanged or not given. */
  private outbound(spec: ParsedApi["outbound_oauth"], current: OutboundOAuth | null): OutboundOAuth | null {
    if (!spec) return null;
    const { client_secret: clientSecret } = spec;
    let clientSecretSealed = current?.clientSecretSealed;
    const secret = this.context.secret;
    if (clientSecret !== undefined && (!clientSecretSealed || unseal(clientSecretSealed, secret(), "outbound-client-secret") !== clientSecret)) {
      clientSecretSealed = seal(clientSecret, secret(), "outbound-client-secret");
    }
    if (!clientSecretSealed) throw new ValidationError([{ field: "outbound_oauth.client_secret", message: "required" }]);
    return {
      tokenUrl: spec.token_url,
      clientId: spec.client_id,
      clientSecretSealed,
      authMethod: spec.auth_method,
      scope: spec.scope,
      resource: spec.resource,
      header: spec.header,
      removeHeaders: spec.remove_headers,
    };
  }

  private async require(identifier: string): Promise<ApiRecord> {
    const api = await this.storage.apis.find(identifier);
    if (!api) throw new NotFoundError(`api ${identifier} not found`);
    return api;
  }
}
