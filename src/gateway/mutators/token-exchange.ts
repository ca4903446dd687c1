// Downstream token exchange (RFC 8693): for an API with the token_exchange policy, the backend receives
// a token meant only for itself — the caller as sub, the gateway as act — instead of the caller's. The
// gateway asks Gatehouse's token endpoint as its own client (internal-client.ts), with the caller's
// token as subject_token and its own client credentials token as actor_token. Exchanged tokens are
// cached per caller token, target and scope until shortly before they expire (a revoked caller token
// is refused by the authenticate stage before its cache entry is ever used); concurrent requests with
// one caller token share one exchange.
import { log } from "../../shared/logger.ts";
import { BadGateway } from "../errors.ts";
import { VerifiedTokenCache } from "../../shared/verified-token-cache.ts";
import { requestToken, TokenRequestFailed, type TokenRequest } from "./outbound-token-request.ts";

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

export interface TokenExchangerOptions {
  /** Gatehouse's token endpoint. */
  tokenUrl: string;
  /** The gateway's own client (internal-client.ts). */
  clientId: string;
  clientSecret: string;
  /** Limit for one token request, in milliseconds; default 5000. */
  timeoutMs?: number;
  /** Most exchanged tokens kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
}

/** Longest an exchanged token is kept, in seconds (an API's access tokens live a day at most). */
const MAX_CACHE_SECONDS = 24 * 3600;

/** When to ask again: 30 s before expiry, or at half the life of a shorter-lived token. Epoch ms. */
function refreshAt(expiresIn: number | undefined, now = Date.now()): number {
  const life = expiresIn ?? 60;
  return now + (life - Math.min(30, life / 2)) * 1000;
}

const FAILURE = "the gateway could not obtain a token for the backend";

export class TokenExchanger {
  private readonly options: Required<TokenExchangerOptions>;
  /** Exchanged tokens by caller token, target and scope, until refreshAt: the gateway's token cache, least recently used out first. */
  private readonly cache: VerifiedTokenCache<string>;
  private readonly inFlight = new Map<string, Promise<string>>();
  private actor: { token: string; refreshAt: number } | undefined;
  private actorInFlight: Promise<string> | undefined;

  constructor(options: TokenExchangerOptions) {
    this.options = { timeoutMs: 5000, maxEntries: 10_000, ...options };
    this.cache = new VerifiedTokenCache<string>({ maxTtlSeconds: MAX_CACHE_SECONDS, maxEntries: this.options.maxEntries });
  }

  /**
   * A token for `audience` exchanged from the caller's `subjectToken`, narrowed to `scope` when given.
   * @throws BadGateway ("token_exchange_failed") when the exchange is refused or Gatehouse does not answer
   */
  async exchange(subjectToken: string, audience: string, scope: string | null, api: string): Promise<string> {
    const key = VerifiedTokenCache.key(subjectToken, ` ${audience} ${scope ?? ""}`);
    const cached = this.cache.get(key);
    if (cached) return cached;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchExchanged(key, subjectToken, audience, scope, api).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetchExchanged(key: string, subjectToken: string, audience: string, scope: string | null, api: string): Promise<string> {
    const actorToken = await this.actorToken(api);
    const grant = { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, actor_token: actorToken, actor_token_type: ACCESS_TOKEN };
    const response = await this.request({ scope, resource: audience }, grant, api);
    this.cache.set(key, response.accessToken, refreshAt(response.expiresIn));
    return response.accessToken;
  }

  /** The gateway's own client credentials token: the actor of every exchange. */
  private actorToken(api: string): Promise<string> {
    if (this.actor && this.actor.refreshAt > Date.now()) return Promise.resolve(this.actor.token);
    this.actorInFlight ??= this.request({ scope: null, resource: null }, { grant_type: "client_credentials" }, api)
      .then((response) => {
        this.actor = { token: response.accessToken, refreshAt: refreshAt(response.expiresIn) };
        return response.accessToken;
      })
      .finally(() => (this.actorInFlight = undefined));
    return this.actorInFlight;
  }

  private async request(target: Pick<TokenRequest, "scope" | "resource">, grant: Record<string, string>, api: string) {
    const { tokenUrl, clientId, clientSecret, timeoutMs } = this.options;
    try {
      return await requestToken({ tokenUrl, clientId, clientSecret, authMethod: "basic", ...target }, timeoutMs, grant);
    } catch (error) {
      if (!(error instanceof TokenRequestFailed)) throw error;
      log.warn("token exchange failed", { api, reason: "token_exchange_failed", grant: grant.grant_type, audience: target.resource, detail: error.message });
      throw new BadGateway(FAILURE, "token_exchange_failed");
    }
  }

  /** Exchanged tokens held, for tests and metrics. */
  get size(): number {
    return this.cache.size;
  }
}
