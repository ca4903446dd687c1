// Trusted assertion issuers: outside identity providers whose signed assertions clients may trade for
// Gatehouse tokens (RFC 7523 JWT bearer, RFC 7522 SAML 2.0 bearer). Each says how its assertions are
// checked (JWKS inline or by URL for JWTs; a pinned certificate for SAML), which clients may present
// them, how their subject names a user, the scopes they may grant and the longest assertion lifetime.
import crypto from "node:crypto";
import { z } from "zod";
import type { AssertionIssuerRecord, Storage } from "../storage/index.ts";
import { ASYMMETRIC_ALGORITHMS } from "../shared/algorithms.ts";
import { changedFields } from "./audit.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, ValidationError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";
import { knownScopes, requireKnown } from "./known-scopes.ts";
import { sameJson } from "./same-json.ts";

const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name");

/** A PEM certificate that Node can parse. */
const certificate = z.string().refine((pem) => {
  try {
    new crypto.X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}, "must be an X.509 certificate in PEM");

export const issuerInputSchema = z
  .object({
    /** The JWT `iss`, or the SAML entity ID (the assertion's <Issuer>). */
    issuer: z.string().min(1).max(500),
    kind: z.enum(["jwt", "saml"]),
    name: z.string().min(1).max(200),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).nullable().default(null),
    jwks_uri: z.url({ protocol: /^https?$/ }).nullable().default(null),
    certificate: certificate.nullable().default(null),
    /** Clients allowed to present its assertions. */
    clients: z.array(z.string().min(1).max(128)).default([]),
    /** How the assertion's subject names a user: by username, by email, or "service" (a service identity, no user). */
    subject_mapping: z.enum(["username", "email", "service"]).default("username"),
    /** Scopes its assertions may grant at most. */
    scopes: z.array(scopeName).default([]),
    /** Longest lifetime of an assertion accepted, in seconds. */
    max_assertion_lifetime: z.number().int().min(10).max(3600).default(300),
    /** JWT signature algorithms accepted: asymmetric only (RFC 8725 §3.1). */
    algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).default(["RS256", "ES256", "PS256", "EdDSA"]),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const keys = [spec.jwks, spec.jwks_uri].filter((k) => k !== null).length;
    if (spec.kind === "jwt" && keys !== 1) ctx.addIssue({ code: "custom", path: ["jwks"], message: "a JWT issuer needs jwks or jwks_uri (one of them)" });
    if (spec.kind === "jwt" && spec.certificate) ctx.addIssue({ code: "custom", path: ["certificate"], message: "a JWT issuer is checked with its keys, not a certificate" });
    if (spec.kind === "saml" && !spec.certificate) ctx.addIssue({ code: "custom", path: ["certificate"], message: "a SAML issuer needs its signing certificate" });
    const secretKey = spec.jwks?.keys.find((key) => "d" in key || key.kty === "oct");
    if (secretKey) ctx.addIssue({ code: "custom", path: ["jwks"], message: "must hold public keys only (no private or symmetric key)" });
    if (spec.kind === "saml" && keys) ctx.addIssue({ code: "custom", path: ["jwks"], message: "a SAML issuer is checked with its certificate, not keys" });
  });

export type IssuerInput = z.input<typeof issuerInputSchema>;
export type IssuerResource = z.infer<typeof issuerInputSchema> & { created_at: string; updated_at: string };

export function issuerResource(record: AssertionIssuerRecord): IssuerResource {
  return {
    issuer: record.issuer,
    kind: record.kind,
    name: record.name,
    jwks: record.jwks,
    jwks_uri: record.jwksUri,
    certificate: record.certificate,
    clients: record.clients,
    subject_mapping: record.subjectMapping,
    scopes: record.scopes,
    max_assertion_lifetime: record.maxAssertionLifetime,
    algorithms: record.algorithms as IssuerResource["algorithms"],
    enabled: record.enabled,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
  };
}

/** The input that reproduces an issuer. */
export function issuerInputOf(resource: IssuerResource): z.infer<typeof issuerInputSchema> {
  const { created_at, updated_at, ...settings } = resource;
  return settings;
}

export class IssuerService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  async list(): Promise<IssuerResource[]> {
    return (await this.storage.assertionIssuers.list()).map(issuerResource);
  }

  async get(issuer: string): Promise<IssuerResource> {
    const record = await this.storage.assertionIssuers.find(issuer);
    if (!record) throw new NotFoundError(`issuer ${issuer} not found`);
    return issuerResource(record);
  }

  /** @throws ConflictError when the issuer is registered already */
  async create(input: IssuerInput): Promise<IssuerResource> {
    const spec = parseInput(issuerInputSchema, input);
    if (await this.storage.assertionIssuers.find(spec.issuer)) throw new ConflictError(`issuer ${spec.issuer} already exists`);
    return (await this.save(null, spec)).issuer;
  }

  /** Changes the fields given, keeping the others. */
  async update(issuer: string, changes: Partial<IssuerInput>, { ifMatch }: { ifMatch?: string } = {}): Promise<IssuerResource> {
    const current = await this.get(issuer);
    checkIfMatch(current, ifMatch);
    if (changes.issuer !== undefined && changes.issuer !== issuer) throw new ValidationError([{ field: "issuer", message: "cannot be changed" }]);
    return (await this.save(current, parseInput(issuerInputSchema, { ...issuerInputOf(current), ...changes, issuer }))).issuer;
  }

  /** Makes the issuer exactly what the input says, creating it when it does not exist (a declarative file). */
  async apply(input: IssuerInput): Promise<{ issuer: IssuerResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(issuerInputSchema, input);
    const current = await this.storage.assertionIssuers.find(spec.issuer);
    return this.save(current ? issuerResource(current) : null, spec);
  }

  async delete(issuer: string): Promise<void> {
    if (!(await this.storage.assertionIssuers.delete(issuer))) throw new NotFoundError(`issuer ${issuer} not found`);
    await this.context.audit.record("delete", "issuer", issuer);
  }

  private async save(current: IssuerResource | null, spec: z.infer<typeof issuerInputSchema>): Promise<{ issuer: IssuerResource; outcome: "created" | "updated" | "unchanged" }> {
    requireKnown("scopes", spec.scopes, await knownScopes(this.storage));
    if (current && sameJson(issuerInputOf(current), spec)) return { issuer: current, outcome: "unchanged" };
    const record = await this.storage.assertionIssuers.upsert({
      issuer: spec.issuer,
      kind: spec.kind,
      name: spec.name,
      jwks: spec.jwks,
      jwksUri: spec.jwks_uri,
      certificate: spec.certificate,
      clients: spec.clients,
      subjectMapping: spec.subject_mapping,
      scopes: spec.scopes,
      maxAssertionLifetime: spec.max_assertion_lifetime,
      algorithms: spec.algorithms,
      enabled: spec.enabled,
    });
    const issuer = issuerResource(record);
    await this.context.audit.record(current ? "update" : "create", "issuer", issuer.issuer, current ? changedFields(issuerInputOf(current), spec) : { ...spec });
    return { issuer, outcome: current ? "updated" : "created" };
  }
}
