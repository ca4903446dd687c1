// Real keys, real signed tokens and real local HTTP servers for the authenticator tests.
import { apiRecord as baseApiRecord } from "../../helpers/records.ts";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import type { ApiRecord } from "../../../src/storage/repositories/apis.ts";

export const ISSUER = "https://gatehouse.test";
export const API = "https://api.example.test";

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(alg: "ES256" | "RS256" | "EdDSA" | "PS256", kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, jwk };
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** A Gatehouse-shaped access token; claims and header override the defaults. */
export function accessToken(key: SigningKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const t = now();
  return new SignJWT({
    iss: ISSUER,
    aud: API,
    sub: "user-1",
    client_id: "client-1",
    scope: "read write",
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    iat: t,
    exp: t + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt", ...header })
    .sign(key.privateKey);
}

export function apiRecord(overrides: Partial<ApiRecord> = {}): ApiRecord {
  return baseApiRecord({ identifier: API, name: "Test API", accessTokenTtl: 300, scopes: ["read", "write"], ...overrides });
}

export interface TestServer {
  url: string;
  close: () => Promise<void>;
}

export async function startServer(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => resolve(body));
    request.on("error", reject);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ status: number; code: string; reason: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { status: number; code: string; reason: string; message: string };
  }
  throw new Error("expected a rejection");
}
