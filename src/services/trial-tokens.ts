// Access tokens for trying an API from the console ("Try it"): an RFC 9068 JWT for a client, minted here
// with the active signing key because the console never knows a client's secret. It looks like the
// client's own client-credentials token (sub and client_id the client, aud the API, the client's scopes
// of that API), lives a minute, and every minting is recorded in the audit log.
import crypto from "node:crypto";
import { importJWK, SignJWT } from "jose";
import { z } from "zod";
import type { Storage } from "../storage/index.ts";
import type { ServiceContext } from "./context.ts";
import { NotFoundError, ValidationError, parseInput } from "./errors.ts";
import type { KeyService } from "./keys.ts";

/** Seconds a trial token lives: long enough for one request, short enough not to matter if it leaks. */
export const TRIAL_TOKEN_TTL = 60;

export const trialTokenInputSchema = z
  .object({
    client_id: z.string().min(1, "pick a client").max(128),
    api: z.string().min(1).max(500),
  })
  .strict();

export type TrialTokenInput = z.input<typeof trialTokenInputSchema>;

export interface TrialToken {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  /** Space-separated: the client's allowed scopes that belong to the API. */
  scope: string;
  client_id: string;
  api: string;
  jti: string;
}

export class TrialTokenService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;
  private readonly keys: KeyService;

  constructor(context: ServiceContext, keys: KeyService) {
    this.context = context;
    this.storage = context.storage;
    this.keys = keys;
  }

  /**
   * Mints a short-lived access token for an enabled client and an API.
   * @throws ValidationError for a disabled client, NotFoundError for an unknown client or API
   */
  async mint(input: TrialTokenInput): Promise<TrialToken> {
    const spec = parseInput(trialTokenInputSchema, input);
    const issuer = this.context.issuer;
    if (!issuer) throw new Error("minting a trial token needs the issuer (ServiceOptions.issuer)");
    const [client, api] = await Promise.all([this.storage.clients.find(spec.client_id), this.storage.apis.find(spec.api)]);
    if (!client) throw new NotFoundError(`client ${spec.client_id} not found`);
    if (!api) throw new NotFoundError(`api ${spec.api} not found`);
    if (!client.enabled) throw new ValidationError([{ field: "client_id", message: "this client is disabled: it gets no tokens" }]);
    const scope = client.scopes.filter((s) => api.scopes.includes(s)).join(" ");
    const { keys } = await this.keys.privateJwks();
    const active = keys[0]!;
    const jti = crypto.randomBytes(16).toString("base64url");
    const accessToken = await new SignJWT({ client_id: client.clientId, ...(scope ? { scope } : {}) })
      .setProtectedHeader({ alg: active.alg!, kid: active.kid!, typ: "at+jwt" })
      .setIssuer(issuer)
      .setSubject(client.clientId)
      .setAudience(api.identifier)
      .setIssuedAt()
      .setExpirationTime(`${TRIAL_TOKEN_TTL}s`)
      .setJti(jti)
      .sign(await importJWK(active, active.alg));
    await this.context.audit.record("mint_trial_token", "client", client.clientId, { api: api.identifier, scope, jti, expires_in: TRIAL_TOKEN_TTL });
    return { access_token: accessToken, token_type: "Bearer", expires_in: TRIAL_TOKEN_TTL, scope, client_id: client.clientId, api: api.identifier, jti };
  }
}
