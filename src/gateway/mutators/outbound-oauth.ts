// Outbound OAuth: for a backend that trusts an external identity provider, obtain a client credentials
// token there and inject it into forwarded requests (WSO2 Choreo's "Outbound OAuth", Azure API
// Management's send-request/set-header). Tokens are cached per attachment of the outbound_oauth policy
// (an API's is shared by all its routes) until shortly before they expire; concurrent callers share one
// token request.
import { unseal } from "../../services/sealing.ts";
import { gatewayMetrics } from "../../shared/metrics.ts";
import { log, tokenHash } from "../../shared/logger.ts";
import { BadGateway } from "../errors.ts";
import { requestToken, TokenRequestFailed, type TokenRequest } from "./outbound-token-request.ts";

/** Defaults, in one place. */
const DEFAULTS = {
  /** Limit for the whole token request, reading the response included. */
  timeoutMs: 5000,
  /** Refresh this long before the identity provider's expires_in runs out (a shorter-lived token: at half its life). */
  refreshSkewSeconds: 30,
  /** How long to use a token whose response has no expires_in. */
  lifetimeWithoutExpirySeconds: 60,
  header: "Authorization",
} as const;

/** The outbound_oauth policy's settings, as the gateway uses them. */
export interface OutboundOAuth {
  tokenUrl: string;
  clientId: string;
  /** Sealed with KEY_ENCRYPTION_SECRET (services/sealing.ts); may seal a ${NAME} reference. */
  clientSecretSealed: string;
  authMethod: "basic" | "body";
  scope: string | null;
  resource: string | null;
  header: string;
  removeHeaders: string[];
}

/** One attachment of the policy: its token cache entry and settings. */
export interface OutboundAttachment {
  /** The cache entry: the same for every route of an API whose attachment it is. */
  key: string;
  /** The API, for the logs. */
  api: string;
  config: OutboundOAuth;
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** A ${NAME} whose NAME the deployment's environment does not define. */
export class UnresolvedReference extends Error {
  readonly variable: string;

  constructor(variable: string) {
    super(`\${${variable}} is referenced but the environment variable ${variable} is not set`);
    this.variable = variable;
  }
}

/**
 * Replaces each ${NAME} with the environment's value, so one declarative file serves every
 * environment. Throws UnresolvedReference for an unset NAME (an empty value counts as set).
 */
export function resolveReferences(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(REFERENCE, (_match, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) throw new UnresolvedReference(name);
    return resolved;
  });
}

export interface OutboundHeaders {
  /** Headers to add to the forwarded request. */
  set: Record<string, string>;
}

export interface OutboundTokenProviderOptions {
  keyEncryptionSecret: string;
  /** Where ${NAME} references are resolved (default: process.env). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  refreshSkewSeconds?: number;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
}

interface CachedToken {
  /** The settings the token was obtained with: a changed configuration is a cache miss. */
  configKey: string;
  accessToken: string;
  refreshAt: number;
}

function configKey(config: OutboundOAuth): string {
  return JSON.stringify([config.tokenUrl, config.clientId, config.clientSecretSealed, config.authMethod, config.scope, config.resource]);
}

function headerName(config: OutboundOAuth): string {
  return config.header || DEFAULTS.header;
}

/** The client headers outbound OAuth takes over: the one carrying the token, and those to remove (e.g. a subscription key meant for the gateway). */
export function outboundHeaderNames(config: OutboundOAuth): string[] {
  return [headerName(config), ...config.removeHeaders];
}

function render(config: OutboundOAuth, accessToken: string): OutboundHeaders {
  const header = headerName(config);
  return { set: { [header]: header.toLowerCase() === "authorization" ? `Bearer ${accessToken}` : accessToken } };
}

const FAILURE = "could not obtain a token for the upstream from its identity provider";

export class OutboundTokenProvider {
  readonly #keyEncryptionSecret: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #refreshSkewSeconds: number;
  readonly #now: () => number;
  /** By attachment key. */
  readonly #cache = new Map<string, CachedToken>();
  /** By attachment key and configuration. */
  readonly #inFlight = new Map<string, Promise<CachedToken>>();

  constructor(options: OutboundTokenProviderOptions) {
    this.#keyEncryptionSecret = options.keyEncryptionSecret;
    this.#env = options.env ?? process.env;
    this.#timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.#refreshSkewSeconds = options.refreshSkewSeconds ?? DEFAULTS.refreshSkewSeconds;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The headers that carry the attachment's outbound token. forceRefresh discards the cached token first.
   * Throws BadGateway ("outbound_token_failed") when the identity provider fails, answers badly or not
   * within the timeout.
   */
  async headersFor(attachment: OutboundAttachment, { forceRefresh = false }: { forceRefresh?: boolean } = {}): Promise<OutboundHeaders> {
    if (forceRefresh) this.invalidate(attachment);
    return render(attachment.config, (await this.#token(attachment)).accessToken);
  }

  /** Forgets the attachment's cached token. */
  invalidate(attachment: OutboundAttachment): void {
    this.#cache.delete(attachment.key);
  }

  /**
   * A ForwardTarget.retryOnUnauthorized for a request sent with `used`: discards the cached token
   * only if it is still the one the upstream rejected (concurrent retries share one refresh), and
   * returns the new headers, or undefined when the identity provider hands out the same token.
   */
  retryFor(attachment: OutboundAttachment, used: OutboundHeaders): () => Promise<Record<string, string> | undefined> {
    return async () => {
      const { config } = attachment;
      const header = headerName(config);
      const cached = this.#cache.get(attachment.key);
      if (cached && render(config, cached.accessToken).set[header] === used.set[header]) this.invalidate(attachment);
      const fresh = await this.headersFor(attachment);
      return fresh.set[header] === used.set[header] ? undefined : fresh.set;
    };
  }

  async #token({ key: cacheKey, api, config }: OutboundAttachment): Promise<CachedToken> {
    const key = configKey(config);
    const cached = this.#cache.get(cacheKey);
    if (cached && cached.configKey === key && this.#now() < cached.refreshAt) return cached;

    const flightKey = `${cacheKey}\n${key}`;
    let flight = this.#inFlight.get(flightKey);
    if (!flight) {
      flight = this.#obtain(cacheKey, api, config, key).finally(() => this.#inFlight.delete(flightKey));
      this.#inFlight.set(flightKey, flight);
    }
    return flight;
  }

  async #obtain(cacheKey: string, identifier: string, config: OutboundOAuth, key: string): Promise<CachedToken> {
    let request: TokenRequest;
    try {
      request = {
        tokenUrl: resolveReferences(config.tokenUrl, this.#env),
        clientId: resolveReferences(config.clientId, this.#env),
        clientSecret: resolveReferences(unseal(config.clientSecretSealed, this.#keyEncryptionSecret, "outbound-client-secret"), this.#env),
        authMethod: config.authMethod,
        scope: config.scope === null ? null : resolveReferences(config.scope, this.#env),
        resource: config.resource === null ? null : resolveReferences(config.resource, this.#env),
      };
    } catch (error) {
      // Both messages name only the variable or the key mismatch, never a value.
      log.error("outbound OAuth is misconfigured", { api: identifier, reason: "outbound_token_failed", detail: (error as Error).message });
      gatewayMetrics.outboundTokenFetch(identifier, "misconfigured", 0);
      throw new BadGateway(FAILURE, "outbound_token_failed");
    }

    const startedAt = this.#now();
    try {
      const { accessToken, expiresIn } = await requestToken(request, this.#timeoutMs);
      const lifetime = expiresIn === undefined ? DEFAULTS.lifetimeWithoutExpirySeconds : expiresIn > this.#refreshSkewSeconds ? expiresIn - this.#refreshSkewSeconds : expiresIn / 2;
      const token = { configKey: key, accessToken, refreshAt: startedAt + lifetime * 1000 };
      this.#cache.set(cacheKey, token);
      gatewayMetrics.outboundTokenFetch(identifier, "success", (this.#now() - startedAt) / 1000);
      log.debug("outbound token obtained", { api: identifier, token: tokenHash(accessToken), expiresIn });
      return token;
    } catch (error) {
      const detail = error instanceof TokenRequestFailed ? error.message : "unexpected error";
      gatewayMetrics.outboundTokenFetch(identifier, "failure", (this.#now() - startedAt) / 1000);
      log.warn("outbound token request failed", { api: identifier, reason: "outbound_token_failed", tokenEndpoint: endpointForLog(request.tokenUrl), detail });
      throw new BadGateway(FAILURE, "outbound_token_failed");
    }
  }
}

/** Origin and path only: a query or user info could hold credentials. */
function endpointForLog(tokenUrl: string): string {
  try {
    const url = new URL(tokenUrl);
    return url.origin + url.pathname;
  } catch {
    return "(invalid URL)";
  }
}
