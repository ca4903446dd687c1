// SAML 2.0 bearer (RFC 7522 §2.1): a client presents a SAML 2.0 assertion signed by an identity provider
// Gatehouse trusts and gets Gatehouse tokens for its subject. The sample is that identity provider: a
// fresh RSA key in a self-signed demo certificate (@peculiar/x509), registered as the issuer's pinned
// certificate, and an enveloped XML signature (xml-crypto, RSA-SHA256, exclusive c14n) over an
// Assertion with the bearer confirmation, audience and lifetime RFC 7522 §3 asks for.
import crypto from "node:crypto";
// @peculiar/x509 needs the Reflect metadata polyfill loaded first (its dependency injection, tsyringe).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { SignedXml } from "xml-crypto";
import { SAML2_BEARER } from "../services/grant-rules.ts";
import { runAssertionSample, type AssertionClaims } from "./assertion-grant.ts";
import { escapeHtml } from "./loopback.ts";
import type { Flow } from "./sample.ts";

export const SAMPLE_SAML_ISSUER = "https://saml-idp.sample.gatehouse.test";

const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;

/** An xs:dateTime in UTC from epoch seconds. */
const instant = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** The unsigned Assertion (XML-escaped values; the signature goes right after Issuer, as SAML's schema orders it). */
function assertionXml(claims: AssertionClaims): string {
  const x = escapeHtml;
  return (
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${x(claims.id)}" Version="2.0" IssueInstant="${instant(claims.issuedAt)}">` +
    `<saml:Issuer>${x(claims.issuer)}</saml:Issuer>` +
    `<saml:Subject>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${x(claims.subject)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData Recipient="${x(claims.tokenEndpoint)}" NotOnOrAfter="${instant(claims.expiresAt)}"/>` +
    `</saml:SubjectConfirmation>` +
    `</saml:Subject>` +
    `<saml:Conditions NotBefore="${instant(claims.issuedAt)}" NotOnOrAfter="${instant(claims.expiresAt)}">` +
    `<saml:AudienceRestriction><saml:Audience>${x(claims.audience)}</saml:Audience></saml:AudienceRestriction>` +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${instant(claims.issuedAt)}">` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext>` +
    `</saml:AuthnStatement>` +
    `</saml:Assertion>`
  );
}

/** A PEM block of DER bytes. */
function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

export const samlBearer: Flow = {
  name: "saml-bearer",
  grant: SAML2_BEARER,
  description: "trade a SAML 2.0 assertion from a trusted identity provider for tokens (signed with a demo certificate; --username to map to a user)",
  interactive: false,
  run: (context) =>
    runAssertionSample(context, {
      flow: "saml-bearer",
      grantType: SAML2_BEARER,
      kind: "saml",
      issuer: SAMPLE_SAML_ISSUER,
      name: "Gatehouse sample identity provider (SAML)",
      async signer() {
        const keys = (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"])) as CryptoKeyPair;
        const now = Date.now();
        const certificate = await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber: crypto.randomBytes(8).toString("hex"),
          name: "CN=Gatehouse sample SAML identity provider",
          notBefore: new Date(now - 60_000),
          notAfter: new Date(now + 24 * 3600_000),
          keys,
          signingAlgorithm: RSA,
        });
        const privateKey = pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
        const certificatePem = certificate.toString("pem");
        return {
          registration: { certificate: certificatePem },
          describe: {
            certificate_subject: certificate.subject,
            certificate_sha256: new crypto.X509Certificate(certificatePem).fingerprint256,
            certificate_not_after: certificate.notAfter.toISOString(),
          },
          async sign(claims) {
            const signed = new SignedXml({
              privateKey,
              signatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
              canonicalizationAlgorithm: "http://www.w3.org/2001/10/xml-exc-c14n#",
            });
            signed.addReference({
              xpath: "/*",
              digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
              transforms: ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", "http://www.w3.org/2001/10/xml-exc-c14n#"],
            });
            signed.computeSignature(assertionXml(claims), { location: { reference: "/*/*[local-name(.)='Issuer']", action: "after" } });
            const xml = signed.getSignedXml();
            // RFC 7522 §2.1: the assertion parameter is the XML, base64url-encoded.
            return { assertion: Buffer.from(xml, "utf8").toString("base64url"), shown: { id: claims.id, subject: claims.subject, audience: claims.audience, recipient: claims.tokenEndpoint, not_on_or_after: instant(claims.expiresAt), xml } };
          },
        };
      },
    }),
};
