// How long the tokens Gatehouse issues can live, from every configured lifetime: the server-wide
// defaults and each API's and client's own. Revocation marks and retired signing keys must outlive them.
import type { Config } from "../config/env.ts";
import type { Storage } from "../storage/index.ts";

export type LifetimeDefaults = Pick<Config, "ACCESS_TOKEN_TTL" | "ID_TOKEN_TTL">;

/**
 * Seconds: the longest a JWT access token can live. A JWT's audience is always an API, whose own
 * lifetime applies (clients' lifetimes apply to opaque tokens only); the default is kept as a floor.
 */
export function longestAccessTokenOf(defaults: LifetimeDefaults, apis: ReadonlyArray<{ accessTokenTtl: number }>): number {
  return Math.max(defaults.ACCESS_TOKEN_TTL, ...apis.map((a) => a.accessTokenTtl));
}

export class TokenLifetimes {
  private readonly storage: Storage;
  private readonly defaults: LifetimeDefaults;

  constructor(storage: Storage, defaults: LifetimeDefaults) {
    this.storage = storage;
    this.defaults = defaults;
  }

  /** Seconds: the longest a JWT access token can live (see longestAccessTokenOf). */
  async longestAccessToken(): Promise<number> {
    return longestAccessTokenOf(this.defaults, await this.storage.apis.list());
  }

  /** Seconds: the longest any token signed with the active key can live (JWT access tokens and ID tokens). */
  async longestSigned(): Promise<number> {
    return Math.max(await this.longestAccessToken(), this.defaults.ID_TOKEN_TTL, await this.storage.clients.longestIdTokenTtl());
  }
}
