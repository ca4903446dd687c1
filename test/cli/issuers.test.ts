// `gatehouse issuer ...` and trusted issuers in the declarative file, through the real command.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { CLI_BACKENDS } from "../helpers/databases.ts";
import { expectCleanFailure, freshGatehouse } from "./gatehouse.ts";

x509.cryptoProvider.set(crypto.webcrypto as Crypto);

async function selfSignedCertificate(): Promise<string> {
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = (await crypto.webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name: "CN=saml-idp.example.com", notBefore: new Date(), notAfter: new Date(Date.now() + 86400_000), keys, signingAlgorithm: algorithm,
  });
  return certificate.toString("pem");
}

describe.each(CLI_BACKENDS)("gatehouse issuer (%s)", (backend) => {
  const t = freshGatehouse(backend);
  let jwksFile: string;
  let certificateFile: string;
  let clientId: string;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    jwksFile = path.join(t.db.dataDir, "idp.jwks.json");
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "idp-1" }] }));
    fs.writeFileSync(path.join(t.db.dataDir, "private.jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: "leak" }] }));
    certificateFile = path.join(t.db.dataDir, "idp.pem");
    fs.writeFileSync(certificateFile, await selfSignedCertificate());
    await t.gatehouse.json("scope", "create", "orders:read");
    const created = await t.gatehouse.json("client", "create", "--name", "Exchanger", "--grant", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    clientId = created.client_id;
  });

  test("create a JWT issuer from a JWKS file; list, show, update, delete", async () => {
    const created = await t.gatehouse.json(
      "issuer", "create", "https://idp.example.com", "--kind", "jwt", "--name", "Corporate IdP", "--jwks-file", jwksFile,
      "--client", clientId, "--subject-mapping", "email", "--scope", "orders:read", "--max-assertion-lifetime", "120", "--algorithm", "ES256",
    );
    expect(created).toMatchObject({
      issuer: "https://idp.example.com", kind: "jwt", name: "Corporate IdP", jwks_uri: null, certificate: null, clients: [clientId],
      subject_mapping: "email", scopes: ["orders:read"], max_assertion_lifetime: 120, algorithms: ["ES256"], enabled: true,
    });
    expect(created.jwks.keys[0]).toMatchObject({ kty: "EC", kid: "idp-1" });
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://idp.example.com", "--kind", "jwt", "--jwks-file", jwksFile), "already exists");

    const text = await t.gatehouse("issuer", "show", "https://idp.example.com");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/jwks\s+1 key \(kid idp-1\)/);
    expect((await t.gatehouse.json("issuer", "list")).map((i: { issuer: string }) => i.issuer)).toEqual(["https://idp.example.com"]);

    const updated = await t.gatehouse.json("issuer", "update", "https://idp.example.com", "--disabled", "--max-assertion-lifetime", "60");
    expect(updated).toMatchObject({ enabled: false, max_assertion_lifetime: 60, subject_mapping: "email", clients: [clientId] });
    expect(await t.gatehouse.json("issuer", "delete", "https://idp.example.com")).toEqual({ deleted: "https://idp.example.com" });
    expectCleanFailure(await t.gatehouse("issuer", "show", "https://idp.example.com"), "not found");
  });

  test("a SAML issuer with a pinned certificate; the text output summarizes it", async () => {
    const result = await t.gatehouse("issuer", "create", "https://saml-idp.example.com", "--kind", "saml", "--certificate-file", certificateFile, "--client", clientId);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/certificate\s+CN=saml-idp.example.com, valid until \d{4}-.*SHA-256 [0-9A-F:]{95}/);
    expect(result.stdout).not.toContain("BEGIN CERTIFICATE");
  });

  test("refusals name the field: private keys, missing keys, a wrong certificate, an unknown scope or algorithm", async () => {
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "jwt", "--jwks-file", path.join(t.db.dataDir, "private.jwks.json")), /jwks.*public keys only/);
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "jwt"), /jwks.*needs jwks or jwks_uri/);
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "saml", "--certificate-file", jwksFile), /certificate.*X\.509/);
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "jwt", "--jwks-uri", "https://a.example/jwks", "--scope", "nope"), /nope/);
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "jwt", "--jwks-uri", "https://a.example/jwks", "--algorithm", "HS256"), /Allowed choices/);
    expectCleanFailure(await t.gatehouse("issuer", "create", "https://a.example", "--kind", "jwt", "--jwks-uri", "file:///etc/passwd"), /jwks_uri/);
  });

  test("issuers in the declarative file: apply creates, export gives them back, applying the export changes nothing", async () => {
    const file = path.join(t.db.dataDir, "issuers.yaml");
    fs.writeFileSync(file, [
      "issuers:",
      "  - issuer: https://ci.example.com",
      "    kind: jwt",
      "    name: CI",
      "    jwks_uri: https://ci.example.com/.well-known/jwks.json",
      `    clients: [${clientId}]`,
      "    subject_mapping: service",
      "    scopes: [orders:read]",
    ].join("\n"));
    expect(await t.gatehouse.json("apply", file)).toMatchObject({ issuers: { created: 1, updated: 0, unchanged: 0 } });
    const exported = await t.gatehouse("export");
    expect(exported.stdout).toMatch(/issuers:\n {2}- issuer: https:\/\/ci.example.com/);
    const exportedFile = path.join(t.db.dataDir, "exported.yaml");
    fs.writeFileSync(exportedFile, exported.stdout);
    expect(await t.gatehouse.json("apply", exportedFile)).toMatchObject({ changes: 0 });
    const text = await t.gatehouse("apply", file);
    expect(text.stdout).toMatch(/^issuers: 0 created, 0 updated, 1 unchanged$/m);
  });

  test("a client with a legacy grant carries a warning", async () => {
    const created = await t.gatehouse.json("client", "create", "--name", "Legacy", "--grant", "password");
    expect(created.warnings).toEqual([expect.stringMatching(/RFC 9700/)]);
  });
});
