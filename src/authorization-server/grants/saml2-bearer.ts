// The SAML 2.0 bearer assertion grant (RFC 7522 §2.1): a client trades a SAML 2.0 Assertion signed by a
// trusted issuer for Gatehouse tokens. The XML signature is checked by xml-crypto (never by hand); this
// file decides what is acceptable around it, in this order, each refusal invalid_grant naming the check:
//
// 1. base64url of UTF-8 XML, well-formed (an xmldom warning refuses too: it repairs what it warns
//    about), with no DOCTYPE or entity declaration (no XXE, no entity expansion) and no comment or
//    processing instruction anywhere (a comment inside NameID is how `admin<!---->@x` attacks split
//    what the signature covers from what a reader sees);
// 2. the document is exactly one saml:Assertion (no EncryptedAssertion, no second Assertion anywhere:
//    signature wrapping), carrying exactly one ds:Signature, its direct child (enveloped);
// 3. its Issuer is a trusted SAML issuer that lets this client present its assertions;
// 4. the signature: one Reference, to this Assertion's ID, enveloped-signature and canonicalization
//    transforms only, RSA with SHA-256 or SHA-512 (SHA-1 and HMAC are not registered), verified with
//    the issuer's pinned certificate; a KeyInfo certificate in the message is never used;
// 5. everything below is read from the XML the signature covers (xml-crypto's signed reference), not
//    from the message: Version 2.0, Issuer again, Subject NameID, a bearer SubjectConfirmation whose
//    Recipient is the token endpoint, whose NotBefore (if any) is not in the future and whose
//    NotOnOrAfter is, Conditions NotBefore and NotOnOrAfter (ASSERTION_CLOCK_SKEW), every
//    AudienceRestriction naming Gatehouse's issuer or token endpoint, IssueInstant not in the future,
//    and a lifetime no longer than the issuer's longest;
// 6. the Assertion ID used once until the assertion expires (grants/assertion.ts).
import { DOMParser } from "@xmldom/xmldom";
import type { KoaContextWithOIDC } from "oidc-provider";
import { invalidGrant } from "./invalid-grant.ts";
import { SignedXml } from "xml-crypto";
import { SAML2_BEARER } from "../../services/grant-rules.ts";
import type { AssertionIssuerRecord } from "../../storage/index.ts";
import { acceptedAudiences, assertionParameter, issueForAssertion, trustedIssuer, type AssertionDeps } from "./assertion.ts";

export { SAML2_BEARER };

const SAML = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG = "http://www.w3.org/2000/09/xmldsig#";
const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/** The only algorithms the signature may use (xml-crypto's names); SHA-1 and HMAC are left out. */
const SIGNATURE_ALGORITHMS = ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"] as const;
const DIGEST_ALGORITHMS = ["http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2001/04/xmlenc#sha512"] as const;
const TRANSFORMS = new Set([
  "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
  "http://www.w3.org/2001/10/xml-exc-c14n#",
  "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
]);
const CANONICALIZATIONS = ["http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"] as const;

const refuse = (why: string) => invalidGrant(`the SAML assertion ${why}`);

/** Strict base64url (RFC 7522 §2.1; padding tolerated) to UTF-8 text. */
function decodeAssertion(assertion: string): string {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(assertion)) throw refuse("is not base64url-encoded");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(assertion, "base64url"));
  } catch {
    throw refuse("is not UTF-8 text");
  }
}

/** Parses XML, refusing what an assertion never needs. */
function parseXml(xml: string, what: string): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw refuse("must not contain a DOCTYPE or entity declaration");
  if (/<!--/.test(xml)) throw refuse("must not contain comments");
  // An XML declaration at the very start is the one processing instruction allowed.
  if (xml.replace(/^\uFEFF?<\?xml\s[^?]*\?>/, "").includes("<?")) throw refuse("must not contain processing instructions");
  const problems: string[] = [];
  const report = (message: string) => problems.push(message);
  // xmldom 0.8 reports some well-formedness errors (an unclosed element, an unquoted attribute value,
  // attributes without a space between them) only as warnings and repairs them: each one refuses too.
  const document = new DOMParser({ errorHandler: { warning: report, error: report, fatalError: report } }).parseFromString(xml, "text/xml");
  if (problems.length || !document?.documentElement) throw refuse(`${what} is not well-formed XML`);
  return document as unknown as Document;
}

function children(parent: Element, ns: string, name: string): Element[] {
  return Array.from(parent.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name);
}

function onlyChild(parent: Element, ns: string, name: string, why: string): Element {
  const found = children(parent, ns, name);
  if (found.length !== 1) throw refuse(why);
  return found[0]!;
}

/** An element whose content is text only (no child elements), trimmed. */
function textOf(element: Element, what: string): string {
  if (Array.from(element.childNodes).some((n) => n.nodeType !== 3 && n.nodeType !== 4)) throw refuse(`${what} must hold text only`);
  const text = (element.textContent ?? "").trim();
  if (!text) throw refuse(`${what} is empty`);
  return text;
}

/** An xs:dateTime attribute with a time zone, as epoch seconds; undefined when absent. */
function instant(element: Element, attribute: string): number | undefined {
  const value = element.getAttribute(attribute);
  if (value === null || value === "") return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) throw refuse(`${element.localName} ${attribute} is not a dateTime with a time zone`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw refuse(`${element.localName} ${attribute} is not a valid time`);
  return ms / 1000;
}

/** Step 2: the one Assertion and its one enveloped Signature. */
function structure(document: Document): { assertion: Element; signature: Element; id: string; issuerName: string } {
  const assertion = document.documentElement;
  if (assertion.namespaceURI !== SAML || assertion.localName !== "Assertion") throw refuse("must be a single saml:Assertion element");
  if (document.getElementsByTagNameNS(SAML, "Assertion").length !== 1) throw refuse("must contain exactly one Assertion");
  if (document.getElementsByTagNameNS(SAML, "EncryptedAssertion").length) throw refuse("must not contain an EncryptedAssertion");
  const signatures = document.getElementsByTagNameNS(DSIG, "Signature");
  if (signatures.length === 0) throw refuse("is not signed");
  if (signatures.length !== 1) throw refuse("must carry exactly one signature");
  const signature = signatures[0]!;
  if (signature.parentNode !== assertion) throw refuse("signature must be an enveloped signature of the Assertion");
  const id = assertion.getAttribute("ID");
  if (!id || id.length > 256) throw refuse("has no ID (or one longer than 256 characters)");
  const issuerName = textOf(onlyChild(assertion, SAML, "Issuer", "must have exactly one Issuer"), "Issuer");
  return { assertion, signature, id, issuerName };
}

/**
 * Step 4: verifies the signature with the pinned certificate and returns the XML it covers.
 * @throws errors.InvalidGrant naming what is wrong with the signature
 */
function verifiedXml(xml: string, signature: Element, id: string, issuer: AssertionIssuerRecord): string {
  const signed = new SignedXml({ publicCert: issuer.certificate!, getCertFromKeyInfo: () => null });
  const allow = <T extends Record<string, unknown>>(table: T, names: readonly string[]) => Object.fromEntries(names.map((name) => [name, table[name]])) as T;
  signed.SignatureAlgorithms = allow(signed.SignatureAlgorithms, SIGNATURE_ALGORITHMS);
  signed.HashAlgorithms = allow(signed.HashAlgorithms, DIGEST_ALGORITHMS);
  signed.CanonicalizationAlgorithms = allow(signed.CanonicalizationAlgorithms, [...TRANSFORMS]);
  try {
    signed.loadSignature(signature);
  } catch {
    throw refuse("signature is malformed");
  }
  if (!SIGNATURE_ALGORITHMS.includes(signed.signatureAlgorithm as (typeof SIGNATURE_ALGORITHMS)[number])) {
    throw refuse("signature algorithm is not accepted (RSA with SHA-256 or SHA-512 only)");
  }
  if (!CANONICALIZATIONS.includes(signed.canonicalizationAlgorithm as (typeof CANONICALIZATIONS)[number])) throw refuse("signature's canonicalization is not accepted");
  const references = signed.getReferences();
  if (references.length !== 1 || references[0]!.uri !== `#${id}`) throw refuse("signature must have one Reference, to the Assertion's ID");
  const [reference] = references;
  if (!DIGEST_ALGORITHMS.includes(reference!.digestAlgorithm as (typeof DIGEST_ALGORITHMS)[number])) throw refuse("digest algorithm is not accepted (SHA-256 or SHA-512 only)");
  if (reference!.transforms.some((transform) => !TRANSFORMS.has(transform))) throw refuse("signature uses a transform that is not accepted");
  let valid = false;
  try {
    valid = signed.checkSignature(xml);
  } catch {
    valid = false;
  }
  const covered = valid ? signed.getSignedReferences() : [];
  if (covered.length !== 1) throw refuse("signature does not verify with the issuer's certificate");
  return covered[0]!;
}

interface SignedContent {
  subject: string;
  /** When the assertion stops being acceptable, epoch seconds. */
  expiresAt: number;
}

/** Step 5: the claims of the signed XML, checked. */
function checkSignedContent(xml: string, id: string, issuer: AssertionIssuerRecord, audiences: string[], tokenEndpoint: string, skew: number): SignedContent {
  const assertion = parseXml(xml, "signed content").documentElement;
  if (assertion.namespaceURI !== SAML || assertion.localName !== "Assertion" || assertion.getAttribute("ID") !== id) throw refuse("signature does not cover the Assertion");
  if (assertion.getAttribute("Version") !== "2.0") throw refuse("Version must be 2.0");
  if (textOf(onlyChild(assertion, SAML, "Issuer", "must have exactly one Issuer"), "Issuer") !== issuer.issuer) throw refuse("Issuer is not the one that signed it");
  const now = Date.now() / 1000;

  const issued = instant(assertion, "IssueInstant");
  if (issued === undefined) throw refuse("has no IssueInstant");
  if (issued > now + skew) throw refuse("IssueInstant is in the future");

  const subject = onlyChild(assertion, SAML, "Subject", "must have exactly one Subject");
  const nameId = textOf(onlyChild(subject, SAML, "NameID", "Subject must have exactly one NameID"), "NameID");
  const bearer = children(subject, SAML, "SubjectConfirmation")
    .filter((confirmation) => confirmation.getAttribute("Method") === BEARER)
    .flatMap((confirmation) => children(confirmation, SAML, "SubjectConfirmationData"));
  if (bearer.length === 0) throw refuse("has no bearer SubjectConfirmation with SubjectConfirmationData");
  const recipients = bearer.filter((data) => data.getAttribute("Recipient") === tokenEndpoint);
  if (recipients.length === 0) throw refuse(`bearer SubjectConfirmationData Recipient must be ${tokenEndpoint}`);
  const usable = recipients.filter((data) => (instant(data, "NotBefore") ?? -Infinity) <= now + skew);
  if (usable.length === 0) throw refuse("bearer SubjectConfirmationData NotBefore is in the future");
  const confirmationEnds = usable.map((data) => instant(data, "NotOnOrAfter"));
  if (confirmationEnds.some((end) => end === undefined)) throw refuse("bearer SubjectConfirmationData has no NotOnOrAfter");
  const confirmationEnd = Math.max(...(confirmationEnds as number[]));
  if (confirmationEnd <= now - skew) throw refuse("bearer SubjectConfirmationData NotOnOrAfter has passed");

  const conditions = onlyChild(assertion, SAML, "Conditions", "must have exactly one Conditions");
  const notBefore = instant(conditions, "NotBefore");
  const notOnOrAfter = instant(conditions, "NotOnOrAfter");
  if (notBefore !== undefined && notBefore > now + skew) throw refuse("is not valid yet (Conditions NotBefore)");
  if (notOnOrAfter !== undefined && notOnOrAfter <= now - skew) throw refuse("has expired (Conditions NotOnOrAfter)");
  const restrictions = children(conditions, SAML, "AudienceRestriction");
  if (restrictions.length === 0) throw refuse(`must name its audience (${audiences.join(" or ")}) in an AudienceRestriction`);
  for (const restriction of restrictions) {
    const named = children(restriction, SAML, "Audience").map((audience) => textOf(audience, "Audience"));
    if (!named.some((audience) => audiences.includes(audience))) throw refuse(`Audience must be ${audiences.join(" or ")}`);
  }

  const expiresAt = Math.min(confirmationEnd, notOnOrAfter ?? Infinity);
  const startedAt = Math.min(issued, notBefore ?? Infinity);
  if (expiresAt - startedAt > issuer.maxAssertionLifetime || expiresAt - now > issuer.maxAssertionLifetime + skew) {
    throw refuse(`lives longer than this issuer's longest assertion lifetime (${issuer.maxAssertionLifetime} seconds)`);
  }
  return { subject: nameId, expiresAt };
}

/**
 * The grant's handler for provider.registerGrantType.
 * @throws errors.InvalidRequest without assertion; errors.InvalidGrant for any failed check; whatever
 *   issueTokens throws
 */
export function saml2BearerGrant(deps: AssertionDeps) {
  return async function saml2BearerGrantHandler(ctx: KoaContextWithOIDC): Promise<void> {
    const xml = decodeAssertion(assertionParameter(ctx));
    const { signature, id, issuerName } = structure(parseXml(xml, "assertion"));
    const issuer = await trustedIssuer(ctx, deps.catalog, issuerName, "saml");
    const signedXml = verifiedXml(xml, signature, id, issuer);
    const tokenEndpoint = ctx.oidc.urlFor("token");
    const skew = deps.clockSkewSeconds;
    const { subject, expiresAt } = checkSignedContent(signedXml, id, issuer, acceptedAudiences(ctx), tokenEndpoint, skew);
    await issueForAssertion(ctx, deps, { issuer, subject, id, expiresAt: new Date((expiresAt + skew) * 1000) }, SAML2_BEARER);
  };
}
