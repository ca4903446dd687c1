// The SAML 2.0 bearer assertion grant (RFC 7522) over real HTTP, on both databases: real SAML 2.0
// Assertions built here as XML, signed with xml-crypto (enveloped, exc-c14n, RSA-SHA256) by a test IdP
// whose self-signed certificate (made here with node:crypto) is registered as a trusted issuer, traded
// for tokens with openid-client; then the hostile ones: unsigned, stripped, signature wrapping in its
// usual shapes, a comment splitting NameID, a swapped KeyInfo certificate, SHA-1, bad times, audience
// and recipient, replay, DTDs and entities, untrusted issuers and clients, garbage and encryption.
// Every tampered assertion is refused with invalid_grant naming the check, and its untampered original
// is then accepted, so that each refusal is shown to come from the tampering, not from a broken fixture.
import crypto from "node:crypto";
import * as oidc from "openid-client";
import { decodeJwt } from "jose";
import { SignedXml } from "xml-crypto";
import { BACKENDS, freshDatabase, type FreshDatabase } from "../helpers/databases.ts";
import { startGatehouse, type RunningGatehouse } from "../helpers/gatehouse.ts";
import { withServices } from "../helpers/seed.ts";

const SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer";
const API = "https://orders.example.com";
const PASSWORD = "correct horse battery staple";
/** Maps NameID to a user by email. */
const IDP = "https://saml-idp.example.com";
/** Maps NameID to a user by username. */
const HR_IDP = "https://saml-hr.example.com";
/** NameID is a service identity. */
const CI_IDP = "https://saml-ci.example.com";

const SAML = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol";
const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1";
const EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

interface Signer {
  pem: string;
  privateKeyPem: string;
}

/** A self-signed RSA certificate (sha256WithRSAEncryption), DER written by hand, signed with node:crypto. */
function selfSigned(commonName: string): Signer {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const tlv = (tag: number, ...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    const size = body.length.toString(16).padStart(body.length.toString(16).length + (body.length.toString(16).length % 2), "0");
    const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.concat([Buffer.from([0x80 | (size.length / 2)]), Buffer.from(size, "hex")]);
    return Buffer.concat([Buffer.from([tag]), length, body]);
  };
  const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
  const oid = (dotted: string) => {
    const [first, second, ...rest] = dotted.split(".").map(Number);
    const bytes = [40 * first! + second!];
    for (let arc of rest) {
      const groups: number[] = [];
      do {
        groups.unshift(arc & 0x7f);
        arc >>>= 7;
      } while (arc);
      bytes.push(...groups.map((group, i) => (i < groups.length - 1 ? group | 0x80 : group)));
    }
    return tlv(0x06, Buffer.from(bytes));
  };
  // UTCTime YYMMDDHHMMSSZ
  const utcTime = (date: Date) => tlv(0x17, Buffer.from(date.toISOString().replace(/^\d\d|[-:T]|\.\d+/g, "")));
  const sha256WithRsa = seq(oid("1.2.840.113549.1.1.11"), tlv(0x05));
  const name = seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(commonName)))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, Buffer.concat([Buffer.from([0x01]), crypto.randomBytes(8)])),
    sha256WithRsa,
    name,
    seq(utcTime(new Date(Date.now() - 86_400_000)), utcTime(new Date(Date.now() + 365 * 86_400_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const der = seq(tbs, sha256WithRsa, tlv(0x03, Buffer.from([0]), crypto.sign("sha256", tbs, privateKey)));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
  return { pem, privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

type Registered = { id: string; secret?: string };

interface TokenAnswer {
  status: number;
  error?: string;
  error_description?: string;
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

const newId = () => `_${crypto.randomBytes(16).toString("hex")}`;
const at = (secondsFromNow: number) => new Date(Date.now() + secondsFromNow * 1000).toISOString();
const encode = (xml: string) => Buffer.from(xml, "utf8").toString("base64url");

describe.each(BACKENDS)("SAML 2.0 bearer assertions on %s", (backend) => {
  let db: FreshDatabase;
  let gatehouse: RunningGatehouse;
  const clients: Record<string, Registered> = {};
  const users: Record<string, string> = {};
  const idp = selfSigned("SAML IdP");
  const attacker = selfSigned("Attacker");

  beforeAll(async () => {
    expect(new crypto.X509Certificate(idp.pem).subject).toBe("CN=SAML IdP");
    db = await freshDatabase(backend);
    await withServices(db, async (services) => {
      await services.scopes.apply({ name: "orders:read", description: "Read your orders" });
      await services.scopes.apply({ name: "orders:write", description: "Change your orders" });
      await services.apis.apply({ identifier: API, name: "Orders", scopes: ["orders:read", "orders:write"] });
      const register = async (name: string, grantTypes: string[]) => {
        const { client, client_secret } = await services.clients.create({ client_name: name, scopes: ["orders:read", "orders:write"], grant_types: grantTypes } as never);
        clients[name] = { id: client.client_id, secret: client_secret };
      };
      await register("saml", [SAML2_BEARER, "refresh_token"]);
      await register("unlisted", [SAML2_BEARER]);
      await register("no-saml", ["client_credentials"]);
      const people: Array<[string, string]> = [
        ["alice", "alice@example.com"],
        ["admin", "admin@example.com"],
        // The account an attacker may own at the IdP, whose email starts with the admin's.
        ["mallory", "admin@example.com.evil.com"],
      ];
      for (const [username, email] of people) {
        users[username] = (await services.users.create({ username, email, password: PASSWORD, claims: { name: username.toUpperCase() } })).user.id;
      }
      const common = { kind: "saml" as const, certificate: idp.pem, max_assertion_lifetime: 300 };
      await services.issuers.create({
        ...common, issuer: IDP, name: "Corporate SAML IdP", clients: [clients.saml!.id, "some-other-client"], subject_mapping: "email",
        scopes: ["openid", "offline_access", "orders:read"],
      });
      await services.issuers.create({ ...common, issuer: HR_IDP, name: "HR SAML IdP", clients: [clients.saml!.id], subject_mapping: "username", scopes: ["orders:read"] });
      await services.issuers.create({ ...common, issuer: CI_IDP, name: "CI SAML", clients: [clients.saml!.id], subject_mapping: "service", scopes: ["orders:read", "openid"] });
    });
    gatehouse = await startGatehouse(db);
  }, 60_000);

  afterAll(async () => {
    await gatehouse?.stop();
    await db?.drop();
  });

  const tokenEndpoint = () => `${gatehouse.issuer}/token`;

  interface AssertionSpec {
    id?: string;
    issuer?: string;
    nameId?: string;
    version?: string;
    issueInstant?: number;
    audience?: string;
    recipient?: string;
    method?: string;
    /** Seconds from now; null leaves the attribute out. */
    notBefore?: number | null;
    notOnOrAfter?: number | null;
    confirmationNotBefore?: number | null;
    confirmationNotOnOrAfter?: number | null;
    /** XML placed in saml:Advice. */
    advice?: string;
  }

  /** An unsigned SAML 2.0 Assertion, in schema order (Issuer, [Signature], Subject, Conditions, Advice, statements). */
  function assertionXml(spec: AssertionSpec = {}): string {
    const {
      id = newId(), issuer = IDP, nameId = "alice@example.com", version = "2.0", issueInstant = 0, audience = tokenEndpoint(), recipient = tokenEndpoint(),
      method = BEARER, notBefore = -5, notOnOrAfter = 120, confirmationNotBefore = null, confirmationNotOnOrAfter = 120, advice,
    } = spec;
    const time = (name: string, offset: number | null) => (offset === null ? "" : ` ${name}="${at(offset)}"`);
    return (
      `<saml:Assertion xmlns:saml="${SAML}" ID="${id}" Version="${version}" IssueInstant="${at(issueInstant)}">` +
      `<saml:Issuer>${issuer}</saml:Issuer>` +
      `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${nameId}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="${method}"><saml:SubjectConfirmationData Recipient="${recipient}"` +
      `${time("NotBefore", confirmationNotBefore)}${time("NotOnOrAfter", confirmationNotOnOrAfter)}/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions${time("NotBefore", notBefore)}${time("NotOnOrAfter", notOnOrAfter)}>` +
      `<saml:AudienceRestriction><saml:Audience>${audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      (advice === undefined ? "" : `<saml:Advice>${advice}</saml:Advice>`) +
      `<saml:AuthnStatement AuthnInstant="${at(-5)}"><saml:AuthnContext>` +
      `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
      `</saml:AuthnContext></saml:AuthnStatement></saml:Assertion>`
    );
  }

  interface SignOptions {
    signer?: Signer;
    /** The certificate put in KeyInfo; the signer's by default. */
    keyInfoCertificate?: string;
    signatureAlgorithm?: string;
    digestAlgorithm?: string;
    /** XPath of the element the Reference covers; the Assertion by default. */
    reference?: string;
  }

  /** Signs as a SAML IdP does: enveloped signature over the Assertion's ID, right after its Issuer. */
  function sign(xml: string, { signer = idp, keyInfoCertificate, signatureAlgorithm = RSA_SHA256, digestAlgorithm = SHA256, reference = "/*" }: SignOptions = {}): string {
    const signed = new SignedXml({ privateKey: signer.privateKeyPem, publicCert: keyInfoCertificate ?? signer.pem, signatureAlgorithm, canonicalizationAlgorithm: EXC_C14N });
    signed.addReference({ xpath: reference, transforms: [ENVELOPED, EXC_C14N], digestAlgorithm });
    signed.computeSignature(xml, { prefix: "ds", location: { reference: "//*[local-name(.)='Issuer']", action: "after" } });
    return signed.getSignedXml();
  }

  const signedAssertion = (spec: AssertionSpec = {}, options: SignOptions = {}) => sign(assertionXml(spec), options);

  /** Whether xml-crypto, given the IdP's certificate, finds the document's signature valid. */
  function verifies(xml: string): boolean {
    const verifier = new SignedXml({ publicCert: idp.pem, getCertFromKeyInfo: () => null });
    verifier.loadSignature(/<ds:Signature[\s\S]*<\/ds:Signature>/.exec(xml)![0]);
    try {
      return verifier.checkSignature(xml);
    } catch {
      return false;
    }
  }
  const idOf = (xml: string) => /<saml:Assertion [^>]*\bID="([^"]+)"/.exec(xml)![1]!;

  /** A token request with plain fetch (client_secret_basic), for the refusals openid-client would throw on. */
  async function tokenRequest(name: string, params: Record<string, string>): Promise<TokenAnswer> {
    const { id, secret } = clients[name]!;
    const response = await fetch(tokenEndpoint(), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` },
      body: new URLSearchParams(params),
    });
    expect(response.headers.get("cache-control")).toMatch(/no-store/);
    return { ...((await response.json()) as TokenAnswer), status: response.status };
  }

  /** Presents the XML, base64url-encoded, as the assertion. */
  const present = (xml: string, extra: Record<string, string> = {}, client = "saml") => tokenRequest(client, { grant_type: SAML2_BEARER, assertion: encode(xml), ...extra });

  /** Expects invalid_grant with a description naming the check, without echoing the assertion. */
  async function expectRefused(xml: string, description: RegExp, extra: Record<string, string> = {}, client = "saml"): Promise<void> {
    const answer = await present(xml, extra, client);
    expect(answer).toMatchObject({ status: 400, error: "invalid_grant", error_description: expect.stringMatching(description) });
    const text = JSON.stringify(answer);
    const value = encode(xml);
    for (let i = 0; i + 24 <= value.length; i += Math.max(24, Math.floor(value.length / 8))) expect(text).not.toContain(value.slice(i, i + 24));
    const id = /\bID="([^"]+)"/.exec(xml)?.[1];
    if (id) expect(text).not.toContain(id);
    expect(text).not.toMatch(/<saml|root:/);
  }

  /** The untampered original is accepted (for the user its NameID names, by default alice). */
  async function expectAccepted(xml: string, sub = users.alice): Promise<void> {
    const answer = await present(xml);
    expect(answer).toMatchObject({ status: 200 });
    expect(decodeJwt(answer.access_token!)).toMatchObject({ sub, aud: API, scope: "orders:read" });
  }

  /** A tampered assertion is refused naming the check; its original is accepted afterwards (the refusal did not use its ID). */
  async function expectTamperingRefused(original: string, tampered: string, description: RegExp, sub = users.alice): Promise<void> {
    expect(tampered).not.toBe(original);
    await expectRefused(tampered, description);
    await expectAccepted(original, sub);
  }

  describe("accepted assertions", () => {
    test("openid-client trades a signed assertion (Audience the issuer) for an access token for the API, an ID token and a refresh token that works", async () => {
      const config = await oidc.discovery(new URL(gatehouse.issuer), clients.saml!.id, clients.saml!.secret, undefined, { execute: [oidc.allowInsecureRequests] });
      const tokens = await oidc.genericGrantRequest(config, SAML2_BEARER, {
        assertion: encode(signedAssertion({ audience: gatehouse.issuer })), scope: "openid offline_access orders:read", resource: API,
      });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: users.alice, aud: API, scope: "orders:read", client_id: clients.saml!.id, iss: gatehouse.issuer });
      expect(tokens.claims()).toMatchObject({ sub: users.alice, aud: clients.saml!.id, iss: gatehouse.issuer });
      expect(tokens.refresh_token).toBeDefined();
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API });
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ sub: users.alice, aud: API, scope: "orders:read" });
    });

    test("Audience the token endpoint, no scope: the API scopes both the client and the issuer may grant; no refresh token without offline_access", async () => {
      const answer = await present(signedAssertion({ audience: tokenEndpoint(), nameId: "admin@example.com" }));
      expect(answer.status).toBe(200);
      // orders:write is the client's but not the issuer's to grant.
      expect(decodeJwt(answer.access_token!)).toMatchObject({ sub: users.admin, aud: API, scope: "orders:read" });
      expect(answer.refresh_token).toBeUndefined();
      expect(answer.id_token).toBeUndefined();
      expect(await present(signedAssertion(), { scope: "orders:write" })).toMatchObject({ status: 400, error: "invalid_scope" });
    });

    test("subject_mapping username maps NameID to the user of that username", async () => {
      const answer = await present(signedAssertion({ issuer: HR_IDP, nameId: "mallory" }));
      expect(decodeJwt(answer.access_token!)).toMatchObject({ sub: users.mallory, aud: API });
    });

    test("subject_mapping service: sub is <issuer>#<NameID>, never a user; openid is refused", async () => {
      const answer = await present(signedAssertion({ issuer: CI_IDP, nameId: "build-bot" }), { scope: "orders:read" });
      expect(answer.status).toBe(200);
      expect(decodeJwt(answer.access_token!)).toMatchObject({ sub: `${CI_IDP}#build-bot`, aud: API });
      // A service NameID that is a user's id is still the service's.
      const posing = await present(signedAssertion({ issuer: CI_IDP, nameId: users.alice }));
      expect(decodeJwt(posing.access_token!).sub).toBe(`${CI_IDP}#${users.alice}`);
      expect(await present(signedAssertion({ issuer: CI_IDP, nameId: "build-bot" }), { scope: "openid" })).toMatchObject({ status: 400, error: "invalid_scope" });
    });

    test("a NameID that is no user is invalid_grant", async () => {
      await expectRefused(signedAssertion({ nameId: "nobody@example.com" }), /not a known user/);
    });
  });

  describe("signature", () => {
    test("an unsigned assertion is refused", async () => {
      await expectRefused(assertionXml(), /is not signed/);
    });

    test("a signed assertion with its signature removed is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, original.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, ""), /is not signed/);
    });

    test("a signed assertion whose NameID is changed after signing does not verify", async () => {
      const original = signedAssertion();
      const tampered = original.replace(">alice@example.com<", ">admin@example.com<");
      expect([verifies(original), verifies(tampered)]).toEqual([true, false]);
      await expectTamperingRefused(original, tampered, /signature does not verify/);
    });

    test("a certificate swapped in KeyInfo: signed by the attacker's key with the attacker's certificate is refused; KeyInfo is never trusted", async () => {
      const xml = assertionXml();
      const forged = sign(xml, { signer: attacker });
      expect(forged).toContain(attacker.pem.split("\n")[1]);
      await expectTamperingRefused(sign(xml), forged, /signature does not verify with the issuer's certificate/);
      // The IdP's signature stands whatever certificate KeyInfo shows.
      await expectAccepted(signedAssertion({}, { keyInfoCertificate: attacker.pem }));
    });

    test("rsa-sha1 is refused", async () => {
      const xml = assertionXml();
      const sha1 = sign(xml, { signatureAlgorithm: RSA_SHA1 });
      expect(sha1).toContain(`Algorithm="${RSA_SHA1}"`);
      await expectTamperingRefused(sign(xml), sha1, /signature algorithm is not accepted/);
    });

    test("a SHA-1 digest is refused", async () => {
      const xml = assertionXml();
      const sha1 = sign(xml, { digestAlgorithm: SHA1 });
      expect(sha1).toContain(`Algorithm="${SHA1}"`);
      await expectTamperingRefused(sign(xml), sha1, /digest algorithm is not accepted/);
    });

    test("a Reference to another ID (a signed element inside the Assertion, not the Assertion) is refused", async () => {
      const xml = assertionXml({ advice: `<ext:Evidence xmlns:ext="urn:example:ext" ID="_evidence">signed elsewhere</ext:Evidence>` });
      const partly = sign(xml, { reference: "//*[@ID='_evidence']" });
      expect(partly).toContain('URI="#_evidence"');
      await expectTamperingRefused(sign(xml), partly, /one Reference, to the Assertion's ID/);
    });
    const malformedSignatures: Array<[string, (signed: string) => string, RegExp]> = [
      ["a Signature without SignedInfo", (signed) => signed.replace(/<ds:SignedInfo>[\s\S]*<\/ds:SignedInfo>/, ""), /signature is malformed/],
      ["a Reference without DigestMethod", (signed) => signed.replace(/<ds:DigestMethod [^>]*\/>/, ""), /signature is malformed|digest algorithm/],
      ["HMAC-SHA1 as the signature method", (signed) => signed.replace(`Algorithm="${RSA_SHA256}"`, 'Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"'), /signature algorithm is not accepted/],
      [
        "canonicalization with comments",
        (signed) => signed.replace(`<ds:CanonicalizationMethod Algorithm="${EXC_C14N}"/>`, `<ds:CanonicalizationMethod Algorithm="${EXC_C14N}WithComments"/>`),
        /signature is malformed|canonicalization is not accepted/,
      ],
      [
        "an XPath transform",
        (signed) => signed.replace(`<ds:Transform Algorithm="${EXC_C14N}"/>`, '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(self::x)</ds:XPath></ds:Transform>'),
        /transform that is not accepted/,
      ],
      ["a second Reference", (signed) => signed.replace(/(<ds:Reference [\s\S]*<\/ds:Reference>)/, "$1$1"), /one Reference/],
      ["a Signature that is not the Assertion's child", (signed) => signed.replace(/(<ds:Signature[\s\S]*<\/ds:Signature>)([\s\S]*<saml:Subject>)/, "$2$1"), /enveloped signature of the Assertion/],
    ];

    test.each(malformedSignatures)("%s is invalid_grant, never a server error", async (_name, tamper, description) => {
      const original = signedAssertion();
      await expectTamperingRefused(original, tamper(original), description);
    });

    test("an ID with an apostrophe (XPath injection) is refused, never a server error", async () => {
      await expectRefused(signedAssertion({ id: "_a']|//*[@ID='b" }), /signature does not verify/);
    });
  });

  describe("signature wrapping", () => {
    const evil = () => assertionXml({ nameId: "admin@example.com" });
    const wrapper = (content: string) => `<samlp:Response xmlns:samlp="${SAMLP}" ID="${newId()}" Version="2.0" IssueInstant="${at(0)}">${content}</samlp:Response>`;

    test("an unsigned Assertion before the signed one, siblings in a wrapper, is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, wrapper(evil() + original), /must be a single saml:Assertion element/);
    });

    test("an unsigned Assertion after the signed one, siblings in a wrapper, is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, wrapper(original + evil()), /must be a single saml:Assertion element/);
    });

    test("the signed Assertion moved inside another element is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, wrapper(original), /must be a single saml:Assertion element/);
    });

    test("an unsigned Assertion nested in the signed one's Advice is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, original.replace("</saml:Conditions>", `</saml:Conditions><saml:Advice>${evil()}</saml:Advice>`), /exactly one Assertion/);
    });

    test("an unsigned Assertion nested in an extension element of the signed one is refused", async () => {
      const original = signedAssertion({ advice: `<ext:Extensions xmlns:ext="urn:example:ext"/>` });
      const tampered = original.replace(`<ext:Extensions xmlns:ext="urn:example:ext"/>`, `<ext:Extensions xmlns:ext="urn:example:ext">${evil()}</ext:Extensions>`);
      await expectTamperingRefused(original, tampered, /exactly one Assertion/);
    });

    test("an unsigned Assertion as the document, with the signed one inside its Advice, is refused", async () => {
      const original = signedAssertion();
      await expectTamperingRefused(original, evil().replace("</saml:Conditions>", `</saml:Conditions><saml:Advice>${original}</saml:Advice>`), /exactly one Assertion/);
    });

    test("an unsigned Assertion carrying the signature, the signed original hidden in ds:Object, is refused", async () => {
      const original = signedAssertion();
      const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(original)![0];
      const hidden = signature.replace("</ds:Signature>", `<ds:Object>${original.replace(signature, "")}</ds:Object></ds:Signature>`);
      const tampered = evil().replace(/(<saml:Issuer>[^<]*<\/saml:Issuer>)/, `$1${hidden}`);
      await expectTamperingRefused(original, tampered, /exactly one Assertion/);
    });

    test("a second Signature (an attacker's, over the whole) is refused", async () => {
      const original = signedAssertion();
      const resigned = sign(original, { signer: attacker });
      expect(resigned.match(/<ds:Signature /g)).toHaveLength(2);
      await expectTamperingRefused(original, resigned, /exactly one signature/);
    });
  });

  describe("NameID split by a comment", () => {
    test("admin@example.com<!---->.evil.com (the attacker's own signed NameID, split) is refused, not taken as the admin", async () => {
      const original = signedAssertion({ nameId: "admin@example.com.evil.com" });
      const tampered = original.replace("admin@example.com.evil.com", "admin@example.com<!---->.evil.com");
      // The tampered document still verifies: comments are not signed (exclusive c14n without comments).
      expect(verifies(tampered)).toBe(true);
      await expectTamperingRefused(original, tampered, /must not contain comments/, users.mallory);
    });

    test("admin<!---->@example.com, even signed so, neither becomes admin@example.com nor passes as the user admin", async () => {
      for (const issuer of [IDP, HR_IDP]) await expectRefused(signedAssertion({ issuer, nameId: "admin<!---->@example.com" }), /must not contain comments/);
      // The same, comment inserted after signing.
      const original = signedAssertion({ nameId: "admin@example.com" });
      await expectTamperingRefused(original, original.replace("admin@example.com", "admin<!---->@example.com"), /must not contain comments/, users.admin);
    });
  });

  describe("times, audience, recipient, confirmation", () => {
    const cases: Array<[string, AssertionSpec, RegExp]> = [
      ["expired (Conditions NotOnOrAfter passed)", { issueInstant: -700, notBefore: -700, notOnOrAfter: -600 }, /has expired \(Conditions NotOnOrAfter\)/],
      ["not yet valid (Conditions NotBefore in the future)", { notBefore: 600 }, /is not valid yet \(Conditions NotBefore\)/],
      ["SubjectConfirmationData NotOnOrAfter passed", { confirmationNotOnOrAfter: -600 }, /SubjectConfirmationData NotOnOrAfter has passed/],
      ["SubjectConfirmationData without NotOnOrAfter", { confirmationNotOnOrAfter: null }, /SubjectConfirmationData has no NotOnOrAfter/],
      ["SubjectConfirmationData NotBefore in the future", { confirmationNotBefore: 600 }, /SubjectConfirmationData NotBefore/],
      ["IssueInstant in the future", { issueInstant: 600 }, /IssueInstant is in the future/],
      ["a lifetime longer than max_assertion_lifetime (NotOnOrAfter an hour away)", { notOnOrAfter: 3600, confirmationNotOnOrAfter: 3600 }, /longest assertion lifetime \(300 seconds\)/],
      ["a lifetime longer than max_assertion_lifetime (issued long ago, still valid)", { issueInstant: -1200, notBefore: -1200 }, /longest assertion lifetime/],
      ["a wrong Audience", { audience: "https://elsewhere.example.com/token" }, /Audience must be/],
      ["a wrong Recipient", { recipient: "https://elsewhere.example.com/token" }, /Recipient must be/],
      ["no bearer SubjectConfirmation (holder-of-key)", { method: "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key" }, /no bearer SubjectConfirmation/],
      ["Version 1.1", { version: "1.1" }, /Version must be 2.0/],
    ];

    test.each(cases)("%s is refused", async (_name, spec, description) => {
      await expectRefused(signedAssertion(spec), description);
    });

    test("an assertion ID is single use", async () => {
      const xml = signedAssertion();
      await expectAccepted(xml);
      await expectRefused(xml, /used before/);
      // The same ID in another, freshly signed assertion is the same assertion.
      await expectRefused(signedAssertion({ id: idOf(xml), nameId: "admin@example.com" }), /used before/);
    });
  });

  describe("DTDs and entities", () => {
    test("a DOCTYPE with nested entities (billion laughs) is refused before any expansion", async () => {
      const original = signedAssertion();
      const lols = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join("");
      const tampered = `<?xml version="1.0"?><!DOCTYPE saml:Assertion [<!ENTITY lol0 "lol">${lols}]>${original.replace(">alice@example.com<", ">&lol9;<")}`;
      await expectTamperingRefused(original, tampered, /must not contain a DOCTYPE or entity declaration/);
    });

    test("a DOCTYPE with an external SYSTEM entity is refused", async () => {
      const original = signedAssertion();
      const tampered = `<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${original.replace(">alice@example.com<", ">&xxe;<")}`;
      await expectTamperingRefused(original, tampered, /must not contain a DOCTYPE or entity declaration/);
    });

    test("a processing instruction is refused; the XML declaration is allowed", async () => {
      const original = signedAssertion();
      await expectRefused(original.replace("<saml:Subject>", "<?evil instruction?><saml:Subject>"), /processing instructions/);
      await expectAccepted(`<?xml version="1.0" encoding="UTF-8"?>${original}`);
    });
  });

  describe("issuer and client", () => {
    test("an Issuer that is not registered is refused, even signed with the registered certificate's key", async () => {
      await expectRefused(signedAssertion({ issuer: "https://unknown-idp.example.com" }), /not a trusted issuer/);
    });

    test("an Issuer registered for other clients only is refused to this client", async () => {
      const xml = signedAssertion();
      await expectRefused(xml, /this client may not present assertions of this issuer/, {}, "unlisted");
      await expectAccepted(xml);
    });

    test("a client without the grant is unauthorized_client", async () => {
      expect(await present(signedAssertion(), {}, "no-saml")).toMatchObject({ status: 400, error: "unauthorized_client" });
    });

    test("without an assertion the request is invalid_request", async () => {
      expect(await tokenRequest("saml", { grant_type: SAML2_BEARER })).toMatchObject({ status: 400, error: "invalid_request" });
    });
  });

  describe("encoding and format", () => {
    test("an assertion that is not base64url is refused (raw XML, standard base64 with + and /)", async () => {
      for (const value of [signedAssertion(), "PHNhbWw+/w==", "a b"]) {
        expect(await tokenRequest("saml", { grant_type: SAML2_BEARER, assertion: value })).toMatchObject({
          status: 400, error: "invalid_grant", error_description: expect.stringMatching(/is not base64url-encoded/),
        });
      }
    });

    test("text that is not XML, or not UTF-8, is refused", async () => {
      await expectRefused("just some text", /not well-formed XML/);
      const latin1 = Buffer.from(`<saml:Assertion xmlns:saml="${SAML}">caf\xe9</saml:Assertion>`, "latin1").toString("base64url");
      expect(await tokenRequest("saml", { grant_type: SAML2_BEARER, assertion: latin1 })).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/not UTF-8/) });
    });

    const malformed: Array<[string, (signed: string) => string]> = [
      ["truncated in a start tag", (signed) => signed.slice(0, signed.indexOf("<saml:Conditions") + 8)],
      ["a duplicated attribute", (signed) => signed.replace('Version="2.0"', 'Version="2.0" Version="2.0"')],
      ["a second root element", (signed) => `${signed}<saml:Issuer>${IDP}</saml:Issuer>`],
      ["an unquoted attribute value", (signed) => signed.replace('Version="2.0"', "Version=2.0")],
      ["attributes without a space between them", (signed) => signed.replace('" Version="2.0"', '"Version="2.0"')],
      ["an element never closed", (signed) => signed.replace(/(<saml:Conditions[^>]*>)([\s\S]*)<\/saml:Conditions>/, "$1$2")],
    ];

    test.each(malformed)("XML with %s is refused as not well-formed", async (_name, tamper) => {
      const original = signedAssertion();
      await expectTamperingRefused(original, tamper(original), /is not well-formed XML/);
    });

    test("an EncryptedAssertion is refused, as the document and inside an Assertion", async () => {
      const encrypted =
        `<saml:EncryptedAssertion xmlns:saml="${SAML}"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
        `<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/><xenc:CipherData><xenc:CipherValue>${crypto.randomBytes(64).toString("base64")}</xenc:CipherValue></xenc:CipherData>` +
        `</xenc:EncryptedData></saml:EncryptedAssertion>`;
      await expectRefused(encrypted, /must be a single saml:Assertion element/);
      const original = signedAssertion();
      await expectTamperingRefused(original, original.replace("</saml:Conditions>", `</saml:Conditions><saml:Advice>${encrypted}</saml:Advice>`), /must not contain an EncryptedAssertion/);
    });
  });
});
