// The token exchange grant (RFC 8693): a service that received a caller's token trades it for a token
// meant for one other API, narrowed to what the caller had (never widened), for as long as the
// caller's token still lives at most. What Gatehouse accepts and decides, in order:
//  - the client lists the grant (oidc-provider refuses others: unauthorized_client) and authenticates
//    (a confidential client, grant-rules.ts);
//  - subject_token: an access token of Gatehouse's (JWT or opaque, subject_token_type access_token, or
//    jwt for a JWT one), or a JWT of a trusted assertion issuer that trusts this client (subject_token_type
//    jwt; every check of the JWT bearer grant, single use included);
//  - actor_token (optional, delegation, §1.1): an access token of Gatehouse's issued to this very client;
//    the new token then carries act: { sub, client_id } of the actor, with the subject token's own act
//    nested inside (§4.1);
//  - one target: resource (RFC 8707) or audience naming a registered API that is among the client's
//    token_exchange_targets (else invalid_target);
//  - scope: what the subject token holds of the target API's scopes (a trusted issuer's token: what the
//    issuer may grant); a requested scope outside that is invalid_scope;
//  - requested_token_type: access_token (or absent); the format (JWT or opaque) is the API's.
// The new token's grant is its own (oidc-provider ties a grant to one client), and its sgid claim lists
// the grants of the chain it came from (the subject token's, and those the subject was exchanged from):
// revoking any of them (logout, a token's revocation, refresh token reuse) refuses the exchanged token
// too (shared/revocation-list.ts). A DPoP-bound subject token is exchanged only with a proof of its key.
import { decodeJwt } from "jose";
import { errors, type KoaContextWithOIDC } from "oidc-provider";
import type { Catalog } from "../catalog.ts";
import type { OwnAccessTokens } from "../../shared/own-access-tokens.ts";
import type { RemoteKeySets } from "../../shared/remote-key-sets.ts";
import { TOKEN_EXCHANGE } from "../../services/grant-rules.ts";
import { GATEWAY_CLIENT_ID } from "../../gateway/internal-client.ts";
import { resourceServerOf } from "../resource-servers.ts";
import { useAssertion, type AssertionDeps } from "./assertion.ts";
import { invalidGrant } from "./invalid-grant.ts";
import { dpopBinding } from "./dpop-binding.ts";
import { checkJwtAssertion } from "./jwt-bearer.ts";

export { TOKEN_EXCHANGE };

export const TOKEN_EXCHANGE_PARAMETERS = ["subject_token", "subject_token_type", "actor_token", "actor_token_type", "requested_token_type", "audience", "scope", "resource"];

/** Token type identifiers (RFC 8693 §3). */
export const TOKEN_TYPES = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
} as const;

/** Longest subject or actor token looked at, in characters. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/** The claims an exchanged token carries besides the standard ones (configuration.ts extraTokenClaims). */
export interface ExchangeClaims {
  /** RFC 8693 §4.1: the actor, with the previous actor nested. */
  act?: Record<string, unknown>;
  /**
   * The grants of the tokens this one was exchanged from, the first exchange's first: the revocation of any
   * refuses this token (revoking a token in the middle of a chain ends what was exchanged from it).
   */
  sgid?: string[];
  /**
   * The clients the tokens of the chain were issued to: a client's revocation mark (revoke-tokens,
   * disable, delete) refuses this token too, as it refuses theirs.
   */
  sclient?: string[];
}

/**
 * Claims an exchanged access token is saved with, keyed by the token model instance: the grant sets
 * them, the configuration's extraTokenClaims (oidc-provider's extension point) adds them to the token.
 */
export const exchangeClaims = new WeakMap<object, ExchangeClaims>();

export interface TokenExchangeDeps extends AssertionDeps {
  ownTokens: OwnAccessTokens;
  remoteKeySets: RemoteKeySets;
}

/** What a verified subject (or actor) token says. */
interface PresentedToken {
  sub: string;
  clientId?: string;
  /** Scopes it holds; undefined when it is a trusted issuer's assertion (the issuer's scopes apply). */
  scopes?: Set<string>;
  /** Epoch seconds. */
  expiresAt: number;
  /** The grants whose revocation must refuse the exchanged token: the subject's own and those it came from. */
  grants: string[];
  act?: Record<string, unknown>;
  /** The DPoP key the token is bound to (cnf.jkt, RFC 9449). */
  jkt?: string;
  /** The clients whose revocation must refuse the exchanged token: the subject's own and those it came from. */
  clients: string[];
}

/** Most exchanges in a chain (a token exchanged from a token exchanged from …). */
const MAX_CHAIN = 8;

/** The grants (or clients) an exchanged token must die with: those its subject came from, then the subject's own. */
function chainOf(sgid: unknown, gid: unknown): string[] {
  const earlier = Array.isArray(sgid) ? sgid.filter((grant): grant is string => typeof grant === "string") : typeof sgid === "string" ? [sgid] : [];
  return typeof gid === "string" ? [...earlier, gid] : earlier;
}

const words = (value: unknown) => (typeof value === "string" ? value.split(" ").filter(Boolean) : []);
const text = (value: unknown) => (typeof value === "string" ? value : undefined);

/** A parameter given at most once, as a string. @throws errors.InvalidRequest */
function single(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw new errors.InvalidRequest(`${name} must be given once`);
  return value;
}

/**
 * An access token of Gatehouse's, JWT or opaque, valid and not revoked.
 * @throws errors.InvalidGrant "the <role> token is not active" for anything else
 */
async function ownAccessToken(ctx: KoaContextWithOIDC, deps: TokenExchangeDeps, token: string, role: "subject" | "actor"): Promise<PresentedToken> {
  const inactive = () => invalidGrant(`the ${role} token is not an active access token of this server`);
  if (token.split(".").length === 3) {
    const claims = await deps.ownTokens.verify(token);
    if (!claims || typeof claims.sub !== "string") throw inactive();
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    return {
      sub: claims.sub,
      clientId: text(claims.client_id),
      scopes: new Set(words(claims.scope)),
      expiresAt: claims.exp!,
      grants: chainOf(claims.sgid, claims.gid),
      act: typeof claims.act === "object" && claims.act ? (claims.act as Record<string, unknown>) : undefined,
      jkt: text(cnf?.jkt),
      clients: chainOf(claims.sclient, claims.client_id),
    };
  }
  const { provider } = ctx.oidc;
  const found = (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
  if (!found || found.isExpired) throw inactive();
  const { extra, grantId, jkt, iat } = found as { extra?: ExchangeClaims; grantId?: string; jkt?: string; iat?: number };
  const sub = (found as { accountId?: string }).accountId ?? found.clientId;
  if (!sub) throw inactive();
  // A stored token may outlive what ended it: a grant it was exchanged from, a client's or user's revocation mark.
  if (deps.ownTokens.revoked({ gid: grantId, sgid: extra?.sgid, sclient: extra?.sclient, client_id: found.clientId, sub, iat })) throw inactive();
  return {
    sub,
    clientId: found.clientId,
    scopes: new Set(words(found.scope)),
    expiresAt: found.exp!,
    grants: chainOf(extra?.sgid, grantId),
    act: extra?.act,
    jkt,
    clients: chainOf(extra?.sclient, found.clientId),
  };
}

/** The subject token, verified as its type says. @throws errors.InvalidRequest, errors.InvalidGrant */
async function subjectToken(ctx: KoaContextWithOIDC, deps: TokenExchangeDeps, token: string, type: string): Promise<PresentedToken & { mayGrant?: Set<string> }> {
  if (type !== TOKEN_TYPES.accessToken && type !== TOKEN_TYPES.jwt) {
    throw new errors.InvalidRequest(`unsupported subject_token_type (supported: ${TOKEN_TYPES.accessToken}, ${TOKEN_TYPES.jwt})`);
  }
  if (type === TOKEN_TYPES.jwt && !isOwnJwt(deps, token)) {
    // A trusted issuer's JWT: the JWT bearer grant's checks, single use included.
    const checked = await checkJwtAssertion(ctx, deps, token);
    const subject = await useAssertion(deps, checked);
    const sub = "accountId" in subject ? subject.accountId : subject.subject;
    return { sub, expiresAt: Math.floor(checked.expiresAt.getTime() / 1000), mayGrant: new Set(checked.issuer.scopes), grants: [], clients: [] };
  }
  return ownAccessToken(ctx, deps, token, "subject");
}

/** Whether a JWT names Gatehouse as its issuer (without trusting it yet). */
function isOwnJwt(deps: TokenExchangeDeps, token: string): boolean {
  try {
    return decodeJwt(token).iss === deps.ownTokens.issuer;
  } catch {
    return false;
  }
}

/**
 * The one API the request targets (resource or audience) if the client may exchange for it.
 * @throws errors.InvalidTarget
 */
async function targetApi(catalog: Catalog, clientId: string, params: Record<string, unknown>) {
  const resource = params.resource;
  const audience = single(params, "audience");
  if (Array.isArray(resource)) throw new errors.InvalidTarget("only one resource indicator may be requested");
  const identifier = text(resource) ?? audience;
  if (!identifier) throw new errors.InvalidTarget("name the target API with resource or audience");
  if (text(resource) && audience && resource !== audience) throw new errors.InvalidTarget("resource and audience name different APIs");
  const api = await catalog.findApi(identifier);
  if (!api) throw new errors.InvalidTarget("unknown resource indicator");
  // The gateway's own client exchanges for what the token_exchange policies name: an administrator's
  // decision already, so any registered API.
  if (clientId !== GATEWAY_CLIENT_ID && !(catalog.client(clientId)?.tokenExchangeTargets ?? []).includes(api.identifier)) {
    throw new errors.InvalidTarget(`this client may not exchange tokens for ${api.identifier}`);
  }
  return api;
}

/**
 * The grant's handler for provider.registerGrantType.
 * @throws errors.InvalidRequest for missing or malformed parameters; errors.InvalidGrant for a subject or
 *   actor token that is not active or not acceptable; errors.InvalidTarget; errors.InvalidScope
 */
export function tokenExchangeGrant(deps: TokenExchangeDeps) {
  return async function tokenExchangeGrantHandler(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const client = ctx.oidc.client!;
    const token = single(params, "subject_token");
    const type = single(params, "subject_token_type");
    if (!token) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
    if (!type) throw new errors.InvalidRequest("missing required parameter 'subject_token_type'");
    const requestedType = single(params, "requested_token_type");
    if (requestedType && requestedType !== TOKEN_TYPES.accessToken) throw new errors.InvalidRequest(`requested_token_type must be ${TOKEN_TYPES.accessToken}`);
    if (token.length > MAX_TOKEN_LENGTH) throw invalidGrant("the subject token is too long");

    const api = await targetApi(deps.catalog, client.clientId, params);
    const jkt = await dpopBinding(ctx, deps.dpop);
    const subject = await subjectToken(ctx, deps, token, type);
    if (subject.grants.length > MAX_CHAIN) throw invalidGrant(`the subject token was exchanged ${MAX_CHAIN} times already`);
    // A DPoP-bound subject token is exchanged only with a proof of its key (the new token is bound to it
    // too), or by the gateway, which checked that proof at the door: never unbound by someone who stole it.
    if (subject.jkt && jkt !== subject.jkt && client.clientId !== GATEWAY_CLIENT_ID) {
      throw invalidGrant("the subject token is DPoP-bound: exchange it with a DPoP proof of its key");
    }
    const actor = await actorToken(ctx, deps, params, client.clientId);

    // Never wider than the subject token's scopes (or its issuer's), and only the target API's.
    const held = subject.scopes ?? subject.mayGrant ?? new Set<string>();
    const available = api.scopes.filter((scope) => held.has(scope));
    const requested = params.scope === undefined ? available : [...new Set(words(params.scope))];
    const refused = requested.filter((scope) => !available.includes(scope));
    if (refused.length) throw new errors.InvalidScope("the subject token does not hold this scope of the target API", refused.join(" "));
    if (requested.length === 0) throw new errors.InvalidScope("the subject token holds none of the target API's scopes", api.scopes.join(" "));

    const now = Math.floor(Date.now() / 1000);
    const remaining = subject.expiresAt - now;
    if (remaining <= 0) throw invalidGrant("the subject token has expired");

    const { provider } = ctx.oidc;
    const grant = new provider.Grant({ accountId: subject.sub, clientId: client.clientId });
    grant.addResourceScope(api.identifier, requested.join(" "));
    const grantId = await grant.save();
    const at = new provider.AccessToken({ accountId: subject.sub, client, grantId, gty: TOKEN_EXCHANGE, expiresIn: Math.min(api.accessTokenTtl, remaining) });
    // Issued at the second `remaining` was counted from, and exp fixed from it (oidc-provider would count
    // exp from the second it saves the token), so exp can never pass the subject token's.
    Object.assign(at, { iat: now, exp: now + Math.min(api.accessTokenTtl, remaining) });
    at.resourceServer = new provider.ResourceServer(api.identifier, resourceServerOf(api, deps.activeAlg()));
    at.scope = requested.join(" ");
    const claims: ExchangeClaims = {};
    if (actor) claims.act = { sub: actor.sub, ...(actor.clientId ? { client_id: actor.clientId } : {}), ...(subject.act ? { act: subject.act } : {}) };
    else if (subject.act) claims.act = subject.act;
    if (subject.grants.length) claims.sgid = subject.grants;
    if (subject.clients.length) claims.sclient = subject.clients;
    if (jkt) at.setThumbprint("jkt", jkt);
    exchangeClaims.set(at, claims);
    ctx.oidc.entity("AccessToken", at);
    const value = await at.save();

    ctx.body = {
      access_token: value,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: at.tokenType,
      expires_in: at.expiration,
      scope: at.scope,
    };
  };
}

/**
 * The actor token, when given: an access token of Gatehouse's issued to the requesting client itself.
 * @throws errors.InvalidRequest, errors.InvalidGrant
 */
async function actorToken(ctx: KoaContextWithOIDC, deps: TokenExchangeDeps, params: Record<string, unknown>, clientId: string): Promise<PresentedToken | undefined> {
  const token = single(params, "actor_token");
  const type = single(params, "actor_token_type");
  if (!token) {
    if (type) throw new errors.InvalidRequest("actor_token_type without actor_token");
    return undefined;
  }
  if (!type) throw new errors.InvalidRequest("missing required parameter 'actor_token_type'");
  if (type !== TOKEN_TYPES.accessToken && type !== TOKEN_TYPES.jwt) throw new errors.InvalidRequest(`unsupported actor_token_type (supported: ${TOKEN_TYPES.accessToken})`);
  if (token.length > MAX_TOKEN_LENGTH) throw invalidGrant("the actor token is too long");
  const actor = await ownAccessToken(ctx, deps, token, "actor");
  if (actor.clientId !== clientId) throw invalidGrant("the actor token was issued to another client");
  if (actor.sub !== clientId) throw invalidGrant("the actor token must be the client's own (client credentials), not a user's");
  return actor;
}
