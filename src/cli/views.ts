// What the CLI shows of each entity: snake_case as in OAuth, the same field names as the declarative file,
// plus read-only fields. Never a secret hash or a password hash.
import type { ApiView } from "../services/apis.ts";
import type { ClientView } from "../services/clients.ts";
import type { KeyView } from "../services/keys.ts";
import type { UserView } from "../services/users.ts";
import type { RouteRecord } from "../storage/index.ts";
import { apiToEntry, clientToEntry, routeToEntry } from "./declarative/file-schema.ts";

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function clientJson(view: ClientView) {
  return {
    ...clientToEntry(view),
    response_types: view.responseTypes,
    has_secret: view.hasSecret,
    previous_secret_expires_at: iso(view.previousSecretExpiresAt),
    created_at: iso(view.createdAt),
    updated_at: iso(view.updatedAt),
  };
}

/** The outbound client secret is never shown, sealed or not; has_client_secret says one is stored. */
export function apiJson(view: ApiView) {
  const entry = apiToEntry(view);
  return { ...entry, outbound_oauth: entry.outbound_oauth && { ...entry.outbound_oauth, has_client_secret: true } };
}

/** A route as the file writes it, plus its id and the API it belongs to. */
export function routeJson(route: RouteRecord) {
  return { id: route.id, api: route.apiIdentifier, ...routeToEntry(route) };
}

export function userJson(view: UserView) {
  return {
    id: view.id,
    username: view.username,
    email: view.email,
    claims: view.claims,
    roles: view.roles,
    enabled: view.enabled,
    created_at: iso(view.createdAt),
    updated_at: iso(view.updatedAt),
  };
}

export function keyJson(view: KeyView) {
  return {
    kid: view.kid,
    alg: view.alg,
    status: view.status,
    created_at: iso(view.createdAt),
    activated_at: iso(view.activatedAt),
    retired_at: iso(view.retiredAt),
    expires_at: iso(view.expiresAt),
    public_jwk: view.publicJwk,
  };
}
