// APIs (resource servers): the audience of their access tokens, and how the gateway protects them.
import { z } from "zod";
import { apiIdentifierSchema } from "./api-identifier.ts";
import type { ApiRecord, Storage } from "../storage/index.ts";
import { changedFields } from "./audit.ts";
import { refuseDeletingBuiltIn } from "./built-in.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import {
  claimHeadersSchema,
  forwardTokenSchema,
  mergePolicyChanges,
  outboundOAuthSchema,
  policiesInputOf,
  policiesInputSchema,
  showPolicies,
  storePolicies,
  type PoliciesInput,
  type PoliciesResource,
  type PolicyChanges,
  type PolicyId,
  type StoredPolicies,
} from "./policies.ts";
import { sameJson } from "./same-json.ts";
import { ASYMMETRIC_ALGORITHMS } from "../shared/algorithms.ts";
import { TRUSTED_TOKEN_TYPES } from "../storage/repositories/apis.ts";

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");

/** Fields an API had before gateway policies: still read (as the policies they are now), never written. */
const LEGACY = {
  claim_headers: "claim_headers",
  forward_token: "forward_token",
  outbound_oauth: "outbound_oauth",
} as const satisfies Record<string, PolicyId>;
type LegacyField = keyof typeof LEGACY;

export const apiInputSchema = z
  .object({
    identifier: apiIdentifierSchema,
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
    /** Clients that act as this API's resource server: besides a token's own client and the gateway, only they may introspect its tokens. */
    introspection_clients: z.array(z.string().min(1).max(128)).default([]),
    policies: policiesInputSchema("api"),
    claim_headers: claimHeadersSchema.shape.claims.optional().meta({ deprecated: true }).describe("Deprecated: read as policies.claim_headers.claims (an empty map: the policy detached)."),
    forward_token: forwardTokenSchema.shape.mode.optional().meta({ deprecated: true }).describe("Deprecated: read as policies.forward_token.mode (none: the policy detached)."),
    outbound_oauth: outboundOAuthSchema.nullable().optional().meta({ deprecated: true }).describe("Deprecated: read as policies.outbound_oauth (null: the policy detached)."),
  })
  .strict();

export type ApiInput = z.input<typeof apiInputSchema>;
type ParsedApi = z.infer<typeof apiInputSchema>;
type ApiSettings = Omit<ParsedApi, "policies" | LegacyField>;

/** An API as every front end shows it: its settings and the policies attached to it (never a secret, sealed or not). */
export type ApiResource = ApiSettings & { policies: PoliciesResource };

/** The input that reproduces an API (every policy's write-only secret left out, so the stored one is kept). */
export type ApiInputOf = ApiSettings & { policies: PoliciesInput };

/** A change to an API: the fields given (the deprecated ones too); `policies` merged policy by policy. */
export type ApiChanges = Partial<Omit<ApiInput, "policies" | "identifier">> & { policies?: PolicyChanges };

export function apiResource(api: ApiRecord): ApiResource {
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
    introspection_clients: api.introspectionClients,
    policies: showPolicies(api.policies, "api"),
  };
}

export function apiInputOf(resource: ApiResource): ApiInputOf {
  return { ...resource, policies: policiesInputOf(resource.policies) };
}

/** The policy changes the deprecated fields of a change stand for. */
function legacyChanges(changes: ApiChanges): PolicyChanges {
  const policies: PolicyChanges = {};
  if (changes.claim_headers !== undefined) policies.claim_headers = Object.keys(changes.claim_headers).length ? { claims: changes.claim_headers } : null;
  if (changes.forward_token !== undefined) policies.forward_token = changes.forward_token === "none" ? null : { mode: changes.forward_token };
  if (changes.outbound_oauth !== undefined) policies.outbound_oauth = changes.outbound_oauth;
  return policies;
}

/** Refuses a policy given both under its deprecated field and under `policies`. */
function refuseTwice(legacy: object, policies: object | undefined): void {
  const twice = Object.keys(legacy).filter((id) => policies && id in policies);
  if (twice.length) {
    throw new ValidationError(twice.map((id) => ({ field: id, message: `given twice: ${id} is deprecated, give only policies.${id}` })));
  }
}

/** Where a policy's values were given, for errors: under its deprecated field, or under policies. */
function fieldOf(legacy: object): (id: string) => string {
  return (id) => (id in legacy ? id : `policies.${id}`);
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

  /**
   * Changes the fields given, keeping the others. A policy given in `policies` is merged into the attached
   * one's settings (or attached), null detaches it; a write-only secret left out is kept.
   */
  async update(identifier: string, changes: ApiChanges, { ifMatch }: { ifMatch?: string } = {}): Promise<ApiResource> {
    const current = await this.require(identifier);
    const resource = apiResource(current);
    checkIfMatch(resource, ifMatch);
    const { policies, claim_headers: _c, forward_token: _f, outbound_oauth: _o, ...fields } = changes;
    const legacy = legacyChanges(changes);
    refuseTwice(legacy, policies);
    const base = apiInputOf(resource);
    const merged = mergePolicyChanges(base.policies, { ...legacy, ...policies });
    return (await this.save(current, parseInput(apiInputSchema, { ...base, ...fields, policies: merged, identifier }), fieldOf(legacy))).api;
  }

  /** Attaches a policy to the API, or replaces its settings: exactly the ones given, the defaults for the others (a write-only secret left out is kept). */
  async attachPolicy(identifier: string, id: PolicyId, config: unknown): Promise<ApiResource> {
    const current = await this.require(identifier);
    const base = apiInputOf(apiResource(current));
    return (await this.save(current, parseInput(apiInputSchema, { ...base, policies: { ...base.policies, [id]: config } }))).api;
  }

  /** @throws NotFoundError when the policy is not attached to the API */
  async detachPolicy(identifier: string, id: PolicyId): Promise<ApiResource> {
    const current = await this.require(identifier);
    const base = apiInputOf(apiResource(current));
    if (!(id in base.policies)) throw new NotFoundError(`policy ${id} is not attached to api ${identifier}`);
    const { [id]: _detached, ...rest } = base.policies;
    return (await this.save(current, parseInput(apiInputSchema, { ...base, policies: rest }))).api;
  }

  /**
   * Creates the API, or brings the existing one in line with the input (a declarative file): the fields
   * given are set, the fields left out keep their stored values; each policy named in `policies` is set to
   * exactly the settings given (the defaults for the others, a write-only secret left out is kept), and
   * the policies not named stay attached. Apply never detaches: that is `policy detach` (or a deprecated
   * field's "none" value, which says so explicitly).
   */
  async apply(input: ApiInput): Promise<{ api: ApiResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(apiInputSchema, input);
    const current = await this.storage.apis.find(spec.identifier);
    if (!current) return this.save(null, spec);
    const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as ApiInput;
    const { policies, claim_headers: _c, forward_token: _f, outbound_oauth: _o, ...fields } = given;
    const legacy = legacyChanges(given);
    refuseTwice(legacy, policies);
    const base = apiInputOf(apiResource(current));
    const named = Object.fromEntries(Object.entries(policies ?? {}).filter(([, config]) => config !== undefined));
    const merged: Record<string, unknown> = { ...base.policies, ...named };
    for (const [id, config] of Object.entries(legacy)) {
      if (config === null) delete merged[id];
      else merged[id] = config;
    }
    return this.save(current, parseInput(apiInputSchema, { ...base, ...fields, policies: merged }), fieldOf(legacy));
  }

  /** @throws ConflictError for the admin API; NotFoundError */
  async delete(identifier: string): Promise<void> {
    refuseDeletingBuiltIn("api", identifier);
    if (!(await this.storage.apis.delete(identifier))) throw new NotFoundError(`api ${identifier} not found`);
    await this.context.audit.record("delete", "api", identifier);
  }

  /**
   * Stores a parsed input; its deprecated fields are read as the policies they stand for.
   * @param field where each policy was given, for errors
   */
  private async save(current: ApiRecord | null, spec: ParsedApi, field?: (id: string) => string): Promise<{ api: ApiResource; outcome: "created" | "updated" | "unchanged" }> {
    const { policies: given, claim_headers: _c, forward_token: _f, outbound_oauth: _o, ...settings } = spec;
    const legacy = Object.fromEntries(Object.entries(legacyChanges(spec)).filter(([, config]) => config !== null));
    refuseTwice(legacy, given);
    const record: ApiRecord = {
      identifier: settings.identifier,
      name: settings.name,
      tokenFormat: settings.token_format,
      accessTokenTtl: settings.access_token_ttl,
      scopes: settings.scopes,
      tokenCheck: settings.token_check,
      trustedIssuers: settings.trusted_issuers.map((t) => ({ issuer: t.issuer, jwksUri: t.jwks_uri, algorithms: t.algorithms, ...(t.token_types ? { tokenTypes: t.token_types } : {}) })),
      allowQueryToken: settings.allow_query_token,
      introspectionClients: settings.introspection_clients,
      policies: storePolicies({ ...given, ...legacy }, current?.policies ?? {}, this.context.secret, field ?? fieldOf(legacy)),
    };
    if (current && sameJson(current, record)) return { api: apiResource(current), outcome: "unchanged" };
    const api = apiResource(await this.storage.apis.upsert(record));
    if (current) {
      const changes: Record<string, unknown> = changedFields(flatPolicies(apiInputOf(apiResource(current))), flatPolicies(apiInputOf(api)));
      for (const id of sealedChanges(current.policies, record.policies)) changes[`policies.${id}.client_secret`] = "changed";
      await this.context.audit.record("update", "api", api.identifier, changes);
    } else {
      await this.context.audit.record("create", "api", api.identifier, { ...apiInputOf(api) });
    }
    return { api, outcome: current ? "updated" : "created" };
  }

  private async require(identifier: string): Promise<ApiRecord> {
    const api = await this.storage.apis.find(identifier);
    if (!api) throw new NotFoundError(`api ${identifier} not found`);
    return api;
  }
}

/** The input with each policy as its own field (policies.cors, ...), so the audit log names the policy that changed. */
export function flatPolicies({ policies, ...settings }: { policies: PoliciesInput }): Record<string, unknown> {
  return { ...settings, ...Object.fromEntries(Object.entries(policies).map(([id, config]) => [`policies.${id}`, config])) };
}

/** The policies whose sealed secret changed (a new one given): the audit log says so without showing it. */
export function sealedChanges(before: StoredPolicies, after: StoredPolicies): string[] {
  return Object.keys(after).filter((id) => {
    const sealed = after[id]!.client_secret_sealed;
    return sealed !== undefined && sealed !== before[id]?.client_secret_sealed;
  });
}
