// APIs (resource servers) and how the gateway protects them.
import { z } from "zod";
import type { Storage, ApiRecord, OutboundOAuth } from "../storage/index.ts";
import { NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { sameJson } from "./same-json.ts";
import { seal, unseal } from "./sealing.ts";

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "invalid header name");
/** A URL, or a ${NAME} reference resolved from the deployment's environment when used. */
const urlOrReference = z.string().refine((v) => /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v) || URL.canParse(v), "must be a URL or contain a ${NAME} reference");
export const ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

export const outboundOAuthSchema = z
  .object({
    tokenUrl: urlOrReference,
    clientId: z.string().min(1),
    /** Plaintext or a ${NAME} reference; sealed before it is stored, never shown back. Omit to keep the stored one. */
    clientSecret: z.string().min(1).optional(),
    authMethod: z.enum(["basic", "body"]).default("basic"),
    scope: z.string().min(1).nullable().default(null),
    resource: z.string().min(1).nullable().default(null),
    header: headerName.default("Authorization"),
    removeHeaders: z.array(headerName).default([]),
  })
  .strict();

export const apiSchema = z
  .object({
    identifier: z.url({ protocol: /^(https?|urn)$/ }).or(z.string().regex(/^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i)),
    name: z.string().min(1).max(200),
    tokenFormat: z.enum(["jwt", "opaque"]).default("jwt"),
    accessTokenTtl: z.number().int().positive().max(24 * 3600).default(3600),
    scopes: z.array(scopeName).default([]),
    tokenCheck: z.enum(["jwt", "introspection"]).default("jwt"),
    trustedIssuers: z
      .array(z.object({ issuer: z.url(), jwksUri: z.url(), algorithms: z.array(z.enum(ASYMMETRIC_ALGS)).min(1).default(["RS256", "ES256"]) }).strict())
      .default([]),
    allowQueryToken: z.boolean().default(false),
    claimHeaders: z.record(z.string().min(1), headerName).default({}),
    forwardToken: z.enum(["none", "original", "signed"]).default("none"),
    outboundOAuth: outboundOAuthSchema.nullable().default(null),
    /** Clients that act as this API's resource server: besides a token's own client and the gateway, only they may introspect its tokens. */
    introspectionClients: z.array(z.string().min(1).max(128)).default([]),
  })
  .strict();

export type ApiSpec = z.input<typeof apiSchema>;

/** An API as shown to administrators: the outbound client secret is never shown back. */
export type ApiView = Omit<ApiRecord, "outboundOAuth"> & { outboundOAuth: (Omit<OutboundOAuth, "clientSecretSealed"> & { hasClientSecret: true }) | null };

export function viewApi(api: ApiRecord): ApiView {
  if (!api.outboundOAuth) return { ...api, outboundOAuth: null };
  const { clientSecretSealed, ...outbound } = api.outboundOAuth;
  return { ...api, outboundOAuth: { ...outbound, hasClientSecret: true } };
}

/** The input that reproduces a stored API; the outbound secret is left out, so the stored one is kept. */
export function specOfApi(view: ApiView): ApiSpec {
  const { outboundOAuth: out, trustedIssuers, ...settings } = view;
  return {
    ...settings,
    trustedIssuers: trustedIssuers.map((t) => ({ ...t, algorithms: t.algorithms as (typeof ASYMMETRIC_ALGS)[number][] })),
    outboundOAuth: out && {
      tokenUrl: out.tokenUrl,
      clientId: out.clientId,
      authMethod: out.authMethod,
      scope: out.scope,
      resource: out.resource,
      header: out.header,
      removeHeaders: out.removeHeaders,
    },
  };
}

export class ApiService {
  private readonly storage: Storage;
  /** KEY_ENCRYPTION_SECRET, asked for only when something is sealed or unsealed. */
  private readonly secret: () => string;

  constructor(storage: Storage, keyEncryptionSecret: () => string) {
    this.storage = storage;
    this.secret = keyEncryptionSecret;
  }

  async list(): Promise<ApiView[]> {
    return (await this.storage.apis.list()).map(viewApi);
  }

  async get(identifier: string): Promise<ApiView> {
    return viewApi(await this.require(identifier));
  }

  async upsert(input: ApiSpec): Promise<{ api: ApiView; changed: boolean }> {
    const spec = parseInput(apiSchema, input);
    const existing = await this.storage.apis.find(spec.identifier);
    const record: ApiRecord = { ...spec, outboundOAuth: this.outbound(spec.outboundOAuth, existing?.outboundOAuth ?? null) };
    if (existing && sameJson(existing, record)) return { api: viewApi(existing), changed: false };
    const api = await this.storage.apis.upsert(record);
    await this.storage.revisions.bump("config");
    return { api: viewApi(api), changed: true };
  }

  async delete(identifier: string): Promise<void> {
    if (!(await this.storage.apis.delete(identifier))) throw new NotFoundError(`api ${identifier} not found`);
    await this.storage.revisions.bump("config");
  }

  /** The stored outbound settings: the secret sealed, the stored one kept when it is unchanged or not given. */
  private outbound(spec: z.infer<typeof outboundOAuthSchema> | null, current: OutboundOAuth | null): OutboundOAuth | null {
    if (!spec) return null;
    const { clientSecret, ...rest } = spec;
    let clientSecretSealed = current?.clientSecretSealed;
    if (clientSecret !== undefined && (!clientSecretSealed || unseal(clientSecretSealed, this.secret(), "outbound-client-secret") !== clientSecret)) {
      clientSecretSealed = seal(clientSecret, this.secret(), "outbound-client-secret");
    }
    if (!clientSecretSealed) throw new ValidationError("outboundOAuth.clientSecret: required");
    return { ...rest, clientSecretSealed };
  }

  private async require(identifier: string): Promise<ApiRecord> {
    const api = await this.storage.apis.find(identifier);
    if (!api) throw new NotFoundError(`api ${identifier} not found`);
    return api;
  }
}
