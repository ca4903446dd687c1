// Registering what a sample needs, idempotently, through the same services the server and the CLI use:
// the sample API and its scope, and one client per flow (client_id `sample-<flow>`, a fresh secret on
// every run). Then the sample waits until the running server has picked the change up (it polls the
// database every CONFIG_POLL_MS), so the first request of the flow never races the registration.
import crypto from "node:crypto";
import * as oidc from "openid-client";
import type { ClientInput } from "../services/clients.ts";
import { generateSecret } from "../services/passwords.ts";
import { SampleError, reason, type SampleContext } from "./sample.ts";

/** The API the samples ask tokens for when --api names none, and its one scope. */
export const SAMPLE_API = "https://sample-api.gatehouse.test";
export const SAMPLE_SCOPE = "sample:read";

export interface SampleApi {
  identifier: string;
  /** The scopes a sample asks for: every scope of the API. */
  scopes: string[];
}

/**
 * The API named by --api (which must exist), or the sample API, created with its scope when missing.
 * @throws NotFoundError (from the services) when --api names no API
 */
export async function sampleApi(context: SampleContext): Promise<SampleApi> {
  const { services, options } = context;
  if (options.api) {
    const api = await services.apis.get(options.api);
    return { identifier: api.identifier, scopes: api.scopes };
  }
  const scope = await services.scopes.apply({ name: SAMPLE_SCOPE, description: "Read the Gatehouse sample API" });
  if (scope.outcome !== "unchanged") context.registered(`scope ${SAMPLE_SCOPE} (${scope.outcome})`);
  const { outcome } = await services.apis.apply({ identifier: SAMPLE_API, name: "Gatehouse sample API", scopes: [SAMPLE_SCOPE] });
  if (outcome !== "unchanged") context.registered(`api ${SAMPLE_API} (${outcome})`);
  return { identifier: SAMPLE_API, scopes: [SAMPLE_SCOPE] };
}

export interface SampleClient {
  clientId: string;
  /** The client's secret for this run (confidential clients); never printed. */
  secret?: string;
  /** openid-client's view of the server and this client, from discovery. */
  config: oidc.Configuration;
}

/** Client settings a flow chooses; the id, name and secret are the samples'. */
export type SampleClientInput = Omit<ClientInput, "client_id" | "client_name" | "client_secret">;

/**
 * Registers (or brings up to date) the client `sample-<flow>` with a fresh secret when it is
 * confidential, discovers the server with openid-client and waits until the server knows the client as
 * registered now.
 * @throws SampleError when the server cannot be reached or does not pick the client up
 */
export async function sampleClient(context: SampleContext, flow: string, input: SampleClientInput): Promise<SampleClient> {
  const clientId = `sample-${flow}`;
  const secret = input.public ? undefined : generateSecret();
  const { outcome } = await context.services.clients.apply({ ...input, client_id: clientId, client_name: `Gatehouse sample: ${flow}`, ...(secret ? { client_secret: secret } : {}) });
  context.registered(`client ${clientId} (${outcome})`);
  const config = await discover(context, clientId, secret);
  await untilServerKnows(context, config, clientId, secret, input);
  return { clientId, secret, config };
}

/**
 * The server's metadata and this client, for openid-client; plain http is allowed for a local issuer.
 * @throws SampleError naming the issuer when discovery fails
 */
export async function discover(context: SampleContext, clientId: string, secret?: string): Promise<oidc.Configuration> {
  const issuer = new URL(context.issuer);
  const options = issuer.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : {};
  try {
    return await oidc.discovery(issuer, clientId, secret, secret ? undefined : oidc.None(), options);
  } catch (error) {
    throw new SampleError(`cannot reach Gatehouse at ${context.issuer}: ${reason(error)}. Is it running (npm start)? Use --issuer for another address`);
  }
}

/** How long to wait for the server to pick up a registration: a few of its polls, at least 10 s. */
function propagationDeadline(context: SampleContext): number {
  return Date.now() + Math.max(10_000, 20 * context.config.CONFIG_POLL_MS);
}

/**
 * Asks the server, harmlessly, until it accepts the client as registered now: a confidential client
 * authenticates to the revocation endpoint with its new secret (revoking a token that does not exist
 * answers 200); a client with redirect URIs gets its first one back from an authorization request with
 * prompt=none (login_required, redirected there), which nothing is stored for.
 * @throws SampleError when the deadline passes: the server is probably on another database
 */
async function untilServerKnows(context: SampleContext, config: oidc.Configuration, clientId: string, secret: string | undefined, input: SampleClientInput): Promise<void> {
  const metadata = config.serverMetadata();
  const redirectUri = input.redirect_uris?.[0];
  const probe = async (): Promise<boolean> => {
    if (secret) {
      const response = await fetch(metadata.revocation_endpoint!, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: "gatehouse-sample-probe" }),
      });
      await response.body?.cancel();
      if (response.status !== 200 || !redirectUri) return response.status === 200;
    }
    if (!redirectUri) return true;
    const implicit = !(input.grant_types ?? []).includes("authorization_code");
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid",
      prompt: "none",
      state: crypto.randomUUID(),
      ...(implicit ? { response_type: "id_token", nonce: oidc.randomNonce() } : { code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: "S256" }),
    });
    const response = await fetch(url, { redirect: "manual" });
    await response.body?.cancel();
    return response.status >= 300 && response.status < 400 && (response.headers.get("location") ?? "").startsWith(redirectUri);
  };
  const deadline = propagationDeadline(context);
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new SampleError(
        `Gatehouse at ${context.issuer} has not picked up client ${clientId}: does it use this command's DATABASE_URL (${context.config.databaseKind})?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, context.config.CONFIG_POLL_MS)));
  }
}

/**
 * Repeats an attempt until it gives a value or the server's propagation deadline passes (a registration
 * the gateway has not loaded yet).
 * @param attempt the value, or why there is none yet
 * @throws SampleError with `failure` and the last reason
 */
export async function untilPropagated<T>(context: SampleContext, attempt: () => Promise<{ value: T } | { why: string }>, failure: string): Promise<T> {
  const deadline = propagationDeadline(context);
  for (;;) {
    const outcome = await attempt();
    if ("value" in outcome) return outcome.value;
    if (Date.now() > deadline) throw new SampleError(`${failure}: ${outcome.why}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, context.config.CONFIG_POLL_MS)));
  }
}
