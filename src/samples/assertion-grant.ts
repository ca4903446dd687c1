// What the two assertion grant samples share (JWT bearer, RFC 7523; SAML 2.0 bearer, RFC 7522): the
// sample plays an identity provider Gatehouse trusts. It makes a signing key, registers itself as a
// trusted issuer with the public half (and the client allowed to present its assertions), signs an
// assertion about a subject and trades it for tokens. With --username the subject is that Gatehouse
// user (subject_mapping "username": an ID token too); without, a service identity ("service": the
// token's sub is `<issuer>#<subject>` and names no user).
import crypto from "node:crypto";
import * as oidc from "openid-client";
import type { GrantType } from "../services/grant-rules.ts";
import type { IssuerInput } from "../services/issuers.ts";
import { sampleApi, sampleClient } from "./register.ts";
import type { SampleContext, SampleReport } from "./sample.ts";
import { describeTokens } from "./tokens.ts";

/** What an assertion says, in either format. */
export interface AssertionClaims {
  issuer: string;
  subject: string;
  /** Gatehouse's issuer identifier: the audience. */
  audience: string;
  /** The token endpoint: the SAML bearer confirmation's Recipient. */
  tokenEndpoint: string;
  /** Epoch seconds. */
  issuedAt: number;
  expiresAt: number;
  /** Single use (jti, or the SAML Assertion ID). */
  id: string;
}

/** A signing key of the sample identity provider: how Gatehouse is told to check it, and the signer. */
export interface AssertionSigner {
  /** The issuer's key material as the issuers service takes it: jwks, or a certificate. */
  registration: Pick<IssuerInput, "jwks" | "certificate">;
  /** Extra facts about the key to print (kid, certificate subject and fingerprint). */
  describe: Record<string, unknown>;
  /** The encoded assertion (what the grant's `assertion` parameter carries) and a readable form of it. */
  sign(claims: AssertionClaims): Promise<{ assertion: string; shown: unknown }>;
}

export interface AssertionSample {
  flow: string;
  grantType: GrantType;
  kind: IssuerInput["kind"];
  /** The issuer identifier (JWT iss, SAML entity ID) the sample registers. */
  issuer: string;
  name: string;
  /** A new key for this run. */
  signer(): Promise<AssertionSigner>;
}

/** Lifetime of the sample's assertions, in seconds (Gatehouse accepts up to the issuer's max_assertion_lifetime). */
const ASSERTION_LIFETIME = 120;

/** Registers the issuer and client, signs an assertion and trades it for tokens. */
export async function runAssertionSample(context: SampleContext, sample: AssertionSample): Promise<SampleReport> {
  const api = await sampleApi(context);
  const user = context.options.username;
  const subjectMapping = user ? "username" : "service";
  const subject = user ?? "sample-service";
  const scopes = user ? ["openid", "profile", "email", ...api.scopes] : api.scopes;
  const signer = await sample.signer();
  const clientId = `sample-${sample.flow}`;
  const { outcome } = await context.services.issuers.apply({
    issuer: sample.issuer,
    kind: sample.kind,
    name: sample.name,
    ...signer.registration,
    clients: [clientId],
    subject_mapping: subjectMapping,
    scopes,
    max_assertion_lifetime: 300,
  });
  context.registered(`trusted issuer ${sample.issuer} (${outcome})`);
  // The client last: once the server knows it, it has loaded the issuer too (same configuration revision or later).
  const client = await sampleClient(context, sample.flow, { grant_types: [sample.grantType], scopes });
  const now = Math.floor(Date.now() / 1000);
  const { assertion, shown } = await signer.sign({
    issuer: sample.issuer,
    subject,
    audience: context.issuer,
    tokenEndpoint: client.config.serverMetadata().token_endpoint!,
    issuedAt: now,
    expiresAt: now + ASSERTION_LIFETIME,
    id: `_${crypto.randomUUID()}`,
  });
  context.say(`presenting a signed ${sample.kind === "jwt" ? "JWT" : "SAML"} assertion about ${subject} to ${context.issuer}`);
  const tokens = await oidc.genericGrantRequest(client.config, sample.grantType, { assertion, scope: scopes.join(" "), resource: api.identifier });
  return {
    client_id: client.clientId,
    api: api.identifier,
    issuer: { issuer: sample.issuer, subject_mapping: subjectMapping, ...signer.describe },
    assertion: shown,
    tokens: describeTokens(tokens),
  };
}
