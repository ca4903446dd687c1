// What the two assertion grants (RFC 7523 JWT bearer, RFC 7522 SAML 2.0 bearer) share once each has
// verified its assertion's signature and times: the trusted issuer's rules (registered, enabled, of the
// right kind, this client allowed), the audiences an assertion may name, the assertion id used once only
// (on every instance sharing the database), the subject mapped to a user or a service identity, and the
// tokens issued within the scopes the issuer may grant (RFC 7521 §5.2).
//
// Every refusal is invalid_grant (RFC 7521 §4.1.1) whose description names the check that failed and
// never echoes the assertion.
import crypto from "node:crypto";
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import type { AssertionIssuerRecord, Storage } from "../../storage/index.ts";
import type { Catalog } from "../catalog.ts";
import { invalidGrant } from "./invalid-grant.ts";
import { issueTokens, type IssueDeps } from "./issue.ts";
import { dpopBinding } from "./dpop-binding.ts";

export const ASSERTION_PARAMETERS = ["assertion", "scope", "resource"];

/** Longest assertion accepted, in characters (base64url of a JWT or a SAML assertion). */
export const MAX_ASSERTION_LENGTH = 32 * 1024;

export interface AssertionDeps extends IssueDeps {
  storage: Storage;
  catalog: Catalog;
  /** Clock skew tolerated on an assertion's times, in seconds (ASSERTION_CLOCK_SKEW). */
  clockSkewSeconds: number;
}

/** An assertion whose signature, audience and times were checked by its grant. */
export interface CheckedAssertion {
  issuer: AssertionIssuerRecord;
  /** The subject (JWT sub, SAML NameID). */
  subject: string;
  /** The assertion's single-use id (JWT jti, SAML Assertion ID). */
  id: string;
  /** When the assertion expires: its id is remembered until then. */
  expiresAt: Date;
}

/** The assertion parameter, present and of a sane size. @throws errors.InvalidRequest */
export function assertionParameter(ctx: KoaContextWithOIDC): string {
  const assertion = (ctx.oidc.params as Record<string, unknown>).assertion;
  if (typeof assertion !== "string" || assertion === "") throw new errors.InvalidRequest("missing required parameter 'assertion'");
  if (assertion.length > MAX_ASSERTION_LENGTH) throw invalidGrant(`the assertion is longer than ${MAX_ASSERTION_LENGTH} characters`);
  return assertion;
}

/**
 * The registered issuer of an assertion, if enabled, of this kind and trusted by the requesting client.
 * @throws errors.InvalidGrant naming what failed
 */
export async function trustedIssuer(ctx: KoaContextWithOIDC, catalog: Catalog, iss: unknown, kind: "jwt" | "saml"): Promise<AssertionIssuerRecord> {
  if (typeof iss !== "string" || iss === "") throw invalidGrant("the assertion names no issuer");
  const issuer = iss.length <= 500 ? await catalog.findIssuer(iss) : undefined;
  if (!issuer || !issuer.enabled || issuer.kind !== kind) throw invalidGrant("the assertion's issuer is not a trusted issuer");
  if (!issuer.clients.includes(ctx.oidc.client!.clientId)) throw invalidGrant("this client may not present assertions of this issuer");
  return issuer;
}

/** The URLs an assertion may name as its audience: the issuer identifier and the token endpoint (RFC 7523 §3, RFC 7522 §3). */
export function acceptedAudiences(ctx: KoaContextWithOIDC): string[] {
  return [ctx.oidc.issuer, ctx.oidc.urlFor("token")];
}

/**
 * The subject of tokens for a service identity: the issuer and the assertion's sub, so that no issuer
 * can name a user (user ids are UUIDs, without "#") or another issuer's service.
 */
export function serviceSubject(issuer: AssertionIssuerRecord, subject: string): string {
  return `${issuer.issuer}#${subject}`;
}

/** Whether a token's sub names a service identity (serviceSubject) rather than a user or a client. */
export function isServiceSubject(sub: unknown): boolean {
  return typeof sub === "string" && sub.includes("#");
}

/**
 * Maps the assertion's subject, records its id as used and issues the tokens.
 * @throws errors.InvalidGrant for an unknown or disabled user or a replayed assertion
 */
export async function issueForAssertion(ctx: KoaContextWithOIDC, deps: AssertionDeps, assertion: CheckedAssertion, gty: string): Promise<void> {
  const jkt = await dpopBinding(ctx, deps.dpop);
  const subject = await useAssertion(deps, assertion);
  const mayGrant = new Set(assertion.issuer.scopes);
  ctx.body = await issueTokens(ctx, deps, { ...subject, gty, mayGrant, jkt });
}

/**
 * Maps a checked assertion's subject to a user (accountId) or a service identity (subject), and records
 * its id as used.
 * @throws errors.InvalidGrant for an unknown or disabled user or a replayed assertion
 */
export async function useAssertion(deps: Pick<AssertionDeps, "storage">, assertion: CheckedAssertion): Promise<{ accountId: string } | { subject: string }> {
  const { issuer, subject } = assertion;
  let accountId: string | undefined;
  if (issuer.subjectMapping !== "service") {
    const { users } = deps.storage;
    const user = subject.length > 320 ? null : issuer.subjectMapping === "email" ? await users.findByEmail(subject) : await users.findByUsername(subject);
    if (!user?.enabled) throw invalidGrant("the assertion's subject is not a known user");
    accountId = user.id;
  }
  const replayKey = crypto.createHash("sha256").update(`${issuer.kind}\n${issuer.issuer}\n${assertion.id}`).digest("base64url");
  if (!(await deps.storage.replays.firstUse(`assertion:${replayKey}`, assertion.expiresAt))) {
    throw invalidGrant("the assertion was used before (its id is single use)");
  }
  return accountId ? { accountId } : { subject: serviceSubject(issuer, subject) };
}
