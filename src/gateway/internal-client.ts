// The gateway introspects opaque tokens at the authorization server as a client of its own. Its
// secret is derived from KEY_ENCRYPTION_SECRET, so every instance of a deployment knows it without
// another setting, and the authorization server stores only its argon2id hash.
import crypto from "node:crypto";
import type { Config } from "../config/env.ts";
import { keyEncryptionSecret } from "../config/secrets.ts";
import type { Services } from "../services/index.ts";
import { TOKEN_EXCHANGE } from "../services/grant-rules.ts";

export const GATEWAY_CLIENT_ID = "gatehouse-gateway";

export function gatewayClientCredentials(config: Config): { clientId: string; clientSecret: string } {
  const secret = Buffer.from(crypto.hkdfSync("sha256", keyEncryptionSecret(config), "gatehouse", "gateway-introspection-client", 32));
  return { clientId: GATEWAY_CLIENT_ID, clientSecret: secret.toString("base64url") };
}

/** Registers the gateway's client, or gives it the current secret; a no-op when nothing changed. */
export async function ensureGatewayClient(config: Config, services: Services): Promise<void> {
  const { clientId, clientSecret } = gatewayClientCredentials(config);
  await services.clients.apply({
    client_id: clientId,
    client_name: "Gatehouse gateway (internal: token introspection and exchange)",
    // Client credentials: its own token (introspection's identity, token exchange's actor); token exchange
    // for the token_exchange policy (any registered API: token-exchange.ts).
    grant_types: ["client_credentials", TOKEN_EXCHANGE],
    client_secret: clientSecret,
  });
}
