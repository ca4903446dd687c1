// Secrets Gatehouse must be able to read back (signing keys, outbound OAuth client secrets) are sealed
// with AES-256-GCM under a key derived from KEY_ENCRYPTION_SECRET, one derived key per purpose.
import crypto from "node:crypto";

export type SealPurpose = "signing-key" | "outbound-client-secret";

function derivedKey(secret: string, purpose: SealPurpose): Buffer {
  const info = purpose === "signing-key" ? "signing-key-encryption" : `gatehouse-${purpose}`;
  return Buffer.from(crypto.hkdfSync("sha256", secret, "gatehouse", info, 32));
}

export function seal(plaintext: string, secret: string, purpose: SealPurpose): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", derivedKey(secret, purpose), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64url"), body.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
}

export function unseal(sealed: string, secret: string, purpose: SealPurpose): string {
  const [version, iv, body, tag] = sealed.split(".");
  if (version !== "v1" || !iv || !body || !tag) throw new Error("unrecognised sealed value");
  const decipher = crypto.createDecipheriv("aes-256-gcm", derivedKey(secret, purpose), Buffer.from(iv, "base64url"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  try {
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new Error("cannot decrypt: KEY_ENCRYPTION_SECRET differs from the one this value was stored with");
  }
}
