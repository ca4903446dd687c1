// The gateway introspects opaque tokens at the authorization server as a client of its own. Its
// secret is derived from KEY_ENCRYPTION_SECRET, so every instance of a deployment knows it without
// another setting, and the authorization server stores only its argon2id hash.
import crypto from "node:crypto";
import type { Config } from "../config/env.ts";
import { keyEncryptionSecret } from "../config/secrets.ts";
import type { Services } from "../services/index.ts";
import { NotFoundError } from "../services/errors.ts";

export const GATEWAY_CLIENT_ID = "gatehouse-gateway";

export function gatewayClientCredentials(config: Config): { clientId: string; clientSecret: string } {
  const secret = Buffer.from(crypto.hkdfSync("sha256", keyEncryptionSecret(config), "gatehouse", "gateway-introspection-client", 32));
  return { clientId: GATEWAY_CLIENT_ID, clientSecret: secret.toString("base64url") };
}

/** Registers the gateway's client, or gives it the current secret; a no-op when nothing changed. */
export async function ensureGatewayClient(config: Config, services: Services): Promise<void> {
  const { clientId, clientSecret } = gatewayClientCredentials(config);
  const spec = { name: "Gatehouse gateway (internal: token introspection)", grantTypes: ["client_credentials" as const], scopes: [] };
  try {
    await services.clients.get(clientId);
    await services.clients.replace(clientId, spec, { secret: clientSecret });
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    await services.clients.create({ ...spec, clientId }, { secret: clientSecret });
  }
}
