// How long the tokens Gatehouse issues can live, from every configured lifetime: the server-wide
// defaults and each API's and client's own. Revocation marks and retired signing keys must outlive them.
import type { Config } from "../config/env.ts";
import type { Storage } from "../storage/index.ts";

export type LifetimeDefaults = Pick<Config, "ACCESS_TOKEN_TTL" | "ID_TOKEN_TTL">;

export class TokenLifetimes {
  private readonly storage: Storage;
  private readonly defaults: LifetimeDefaults;

  constructor(storage: Storage, defaults: LifetimeDefaults) {
    this.storage = storage;
    this.defaults = defaults;
  }

  /** Seconds: the longest an access token can live (a JWT's audience is an API, with its own lifetime). */
  async longestAccessToken(): Promise<number> {
    const apis = await this.storage.apis.list();
    const clients = await this.storage.clients.list();
    return Math.max(this.defaults.ACCESS_TOKEN_TTL, ...apis.map((a) => a.accessTokenTtl), ...clients.map((c) => c.accessTokenTtl ?? 0));
  }

  /** Seconds: the longest any token signed with the active key can live (access and ID tokens). */
  async longestSigned(): Promise<number> {
    const clients = await this.storage.clients.list();
    return Math.max(await this.longestAccessToken(), this.defaults.ID_TOKEN_TTL, ...clients.map((c) => c.idTokenTtl ?? 0));
  }
}
