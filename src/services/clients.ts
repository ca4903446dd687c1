// Client registration: the one implementation behind the CLI, the declarative file and the admin console.
import crypto from "node:crypto";
import { z } from "zod";
import type { Storage, ClientRecord, ClientInput } from "../storage/index.ts";
import { NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { endIssued, type EndedIssuance } from "./issued-tokens.ts";
import { generateSecret, hashSecret, verifySecret } from "./passwords.ts";
import { knownScopes, requireKnown } from "./known-scopes.ts";
import { checkRedirectUris } from "./redirect-uris.ts";
import { securityEvent } from "../shared/logger.ts";
import { sameJson } from "./same-json.ts";
import type { TokenLifetimes } from "./token-lifetimes.ts";

/** The grants the authorization server issues tokens for today. */
export const GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"] as const;

export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] as const;

export const APPLICATION_TYPES = ["web", "native"] as const;

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");
const ttl = z.number().int().positive().max(365 * 24 * 3600).nullable();

export const clientSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, "3-128 characters of A-Z a-z 0-9 . _ ~ -").optional(),
    name: z.string().min(1).max(200),
    /** "native" (RFC 8252): a public app on a device; loopback redirect URIs match on any port. */
    applicationType: z.enum(APPLICATION_TYPES).default("web"),
    /** Default: true for a native app, false for a web app. */
    public: z.boolean().optional(),
    grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).default(["authorization_code", "refresh_token"]),
    redirectUris: z.array(z.string()).default([]),
    postLogoutRedirectUris: z.array(z.string()).default([]),
    scopes: z.array(scopeName).default([]),
    tokenEndpointAuthMethod: z.enum(AUTH_METHODS).optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).nullable().default(null),
    jwksUri: z.url().nullable().default(null),
    accessTokenTtl: ttl.default(null),
    idTokenTtl: ttl.default(null),
    refreshTokenTtl: ttl.default(null),
    /** Seconds a just-rotated refresh token may be presented once more (a lost response); null: REFRESH_TOKEN_REUSE_GRACE. */
    refreshTokenReuseGrace: z.number().int().min(0).max(300).nullable().default(null),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((spec, ctx) => {
    checkRedirectUris(spec.redirectUris, spec.applicationType, "redirectUris", ctx);
    checkRedirectUris(spec.postLogoutRedirectUris, spec.applicationType, "postLogoutRedirectUris", ctx);
  });

/**
 * RFC 6749 Appendix A.2: a client secret is printable ASCII (%x20-7E). Anything else cannot travel in
 * HTTP Basic authentication, so it would be accepted here and then fail every token request.
 */
export const clientSecretSchema = z
  .string()
  .min(32, "must be at least 32 characters")
  .max(512, "must be at most 512 characters")
  .regex(/^[\x20-\x7E]+$/, "must be printable ASCII (RFC 6749 Appendix A.2), e.g. from `openssl rand -base64 32`");

export type ClientSpec = z.input<typeof clientSchema>;

/** A client as shown to administrators: never a secret or a hash. */
export type ClientView = Omit<ClientRecord, "secretHash" | "previousSecretHash"> & { hasSecret: boolean };

export function viewClient(client: ClientRecord): ClientView {
  const { secretHash, previousSecretHash, ...rest } = client;
  return { ...rest, hasSecret: !!secretHash, previousSecretExpiresAt: previousSecretHash ? rest.previousSecretExpiresAt : null };
}

function normalize(spec: z.infer<typeof clientSchema>): Omit<ClientInput, "clientId" | "secretHash" | "previousSecretHash" | "previousSecretExpiresAt"> {
  const confidential = !(spec.public ?? spec.applicationType === "native");
  const method = spec.tokenEndpointAuthMethod ?? (confidential ? (spec.jwks || spec.jwksUri ? "private_key_jwt" : "client_secret_basic") : "none");
  if (!confidential && method !== "none") throw new ValidationError("tokenEndpointAuthMethod: a public client authenticates with none");
  if (confidential && method === "none") throw new ValidationError("tokenEndpointAuthMethod: a confidential client cannot use none");
  if (method === "private_key_jwt" && !spec.jwks && !spec.jwksUri) throw new ValidationError("jwks: private_key_jwt needs jwks or jwksUri");
  if (!confidential && spec.grantTypes.includes("client_credentials")) throw new ValidationError("grantTypes: a public client cannot use client_credentials");
  const redirecting = spec.grantTypes.includes("authorization_code");
  if (redirecting && spec.redirectUris.length === 0) throw new ValidationError("redirectUris: required for authorization_code");
  if (spec.grantTypes.includes("refresh_token") && !redirecting) throw new ValidationError("grantTypes: refresh_token needs authorization_code");
  const responseTypes = redirecting ? ["code"] : [];
  return {
    name: spec.name,
    confidential,
    applicationType: spec.applicationType,
    redirectUris: spec.redirectUris,
    postLogoutRedirectUris: spec.postLogoutRedirectUris,
    grantTypes: spec.grantTypes,
    responseTypes,
    scopes: spec.scopes,
    tokenEndpointAuthMethod: method,
    jwks: spec.jwks as ClientRecord["jwks"],
    jwksUri: spec.jwksUri,
    accessTokenTtl: spec.accessTokenTtl,
    idTokenTtl: spec.idTokenTtl,
    refreshTokenTtl: spec.refreshTokenTtl,
    refreshTokenReuseGrace: spec.refreshTokenReuseGrace,
    enabled: spec.enabled,
  };
}

function parseSecret(secret: string): string {
  return parseInput(clientSecretSchema, secret, "secret");
}

function needsSecret(method: string): boolean {
  return method === "client_secret_basic" || method === "client_secret_post";
}

export class ClientService {
  private readonly storage: Storage;
  private readonly lifetimes: TokenLifetimes;

  constructor(storage: Storage, lifetimes: TokenLifetimes) {
    this.storage = storage;
    this.lifetimes = lifetimes;
  }

  async list(): Promise<ClientView[]> {
    return (await this.storage.clients.list()).map(viewClient);
  }

  async get(clientId: string): Promise<ClientView> {
    return viewClient(await this.require(clientId));
  }

  /** Registers a client. The secret is returned once, here, and stored only as an argon2id hash. */
  async create(input: ClientSpec, { secret }: { secret?: string } = {}): Promise<{ client: ClientView; clientSecret?: string }> {
    const spec = parseInput(clientSchema, input);
    // Hex, so an id never starts with "-" (a command line would read it as an option).
    const clientId = spec.clientId ?? crypto.randomBytes(16).toString("hex");
    if (await this.storage.clients.find(clientId)) throw new ValidationError(`clientId: ${clientId} already exists`);
    const data = normalize(spec);
    requireKnown("scopes", data.scopes, await knownScopes(this.storage));
    const clientSecret = needsSecret(data.tokenEndpointAuthMethod) ? (secret === undefined ? generateSecret() : parseSecret(secret)) : undefined;
    const record = await this.storage.clients.create({
      ...data,
      clientId,
      secretHash: clientSecret ? await hashSecret(clientSecret) : null,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
    });
    await this.storage.revisions.bump("config");
    return { client: viewClient(record), ...(clientSecret ? { clientSecret } : {}) };
  }

  /** Replaces a client's settings (used by `apply`); keeps its secret unless one is given. */
  async replace(clientId: string, input: ClientSpec, { secret }: { secret?: string } = {}): Promise<{ client: ClientView; changed: boolean }> {
    const current = await this.require(clientId);
    const data = normalize(parseInput(clientSchema, { ...input, clientId }));
    requireKnown("scopes", data.scopes, await knownScopes(this.storage));
    let secretHash = current.secretHash;
    if (!needsSecret(data.tokenEndpointAuthMethod)) secretHash = null;
    else if (secret !== undefined) {
      parseSecret(secret);
      if (!secretHash || !(await verifySecret(secretHash, secret))) secretHash = await hashSecret(secret);
    } else if (!secretHash) throw new ValidationError("secret: this client needs a secret");
    const changed =
      secretHash !== current.secretHash ||
      Object.entries(data).some(([k, v]) => !sameJson(v, current[k as keyof ClientRecord]));
    if (!changed) return { client: viewClient(current), changed };
    const record = await this.storage.clients.update(clientId, { ...data, secretHash });
    await this.storage.revisions.bump("config");
    if (current.enabled && !record.enabled) await endIssued(this.storage, this.lifetimes, { client: clientId }, "client_disabled");
    return { client: viewClient(record), changed };
  }

  /**
   * Gives the client a new secret, returned once. With graceSeconds, the old secret keeps working that
   * long beside the new one (so the client's deployments can switch without downtime), then stops.
   * @param graceSeconds 0 (the old secret stops at once) to 30 days
   */
  async rotateSecret(clientId: string, { graceSeconds = 0 }: { graceSeconds?: number } = {}): Promise<{ client: ClientView; clientSecret: string }> {
    const current = await this.require(clientId);
    if (!needsSecret(current.tokenEndpointAuthMethod)) throw new ValidationError(`client ${clientId} does not authenticate with a secret`);
    const grace = parseInput(z.number().int().min(0).max(30 * 24 * 3600), graceSeconds, "grace");
    const clientSecret = generateSecret();
    const record = await this.storage.clients.update(clientId, {
      secretHash: await hashSecret(clientSecret),
      previousSecretHash: grace > 0 ? current.secretHash : null,
      previousSecretExpiresAt: grace > 0 ? new Date(Date.now() + grace * 1000) : null,
    });
    await this.storage.revisions.bump("config");
    securityEvent("client_secret_rotated", { client_id: clientId, grace_seconds: grace });
    return { client: viewClient(record), clientSecret };
  }

  /** Disabling ends everything the client was issued (see revokeTokens); enabling does not bring it back. */
  async setEnabled(clientId: string, enabled: boolean): Promise<ClientView> {
    await this.require(clientId);
    const record = await this.storage.clients.update(clientId, { enabled });
    await this.storage.revisions.bump("config");
    if (!enabled) await endIssued(this.storage, this.lifetimes, { client: clientId }, "client_disabled");
    return viewClient(record);
  }

  /** Deletes the client, the consents given to it and everything it was issued. */
  async delete(clientId: string): Promise<void> {
    if (!(await this.storage.clients.delete(clientId))) throw new NotFoundError(`client ${clientId} not found`);
    await this.storage.consents.deleteForClient(clientId);
    await this.storage.revisions.bump("config");
    await endIssued(this.storage, this.lifetimes, { client: clientId }, "client_deleted");
  }

  /**
   * Ends every grant, code and token the client holds, keeping the client: refresh and opaque access
   * tokens are deleted, JWT access tokens issued until now are refused (one-second resolution: wait a
   * second before asking for a new token). Consents stay.
   */
  async revokeTokens(clientId: string): Promise<EndedIssuance> {
    await this.require(clientId);
    return endIssued(this.storage, this.lifetimes, { client: clientId }, "client_tokens_revoked");
  }

  private async require(clientId: string): Promise<ClientRecord> {
    const client = await this.storage.clients.find(clientId);
    if (!client) throw new NotFoundError(`client ${clientId} not found`);
    return client;
  }
}
