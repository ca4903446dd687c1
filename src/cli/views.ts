// What the CLI shows of each entity: snake_case as in OAuth, the same field names as the declarative file,
// plus read-only fields. Never a secret hash or a password hash.
import type { ClientView } from "../services/clients.ts";
import type { KeyView } from "../services/keys.ts";
import type { UserView } from "../services/users.ts";
import { clientToEntry } from "./declarative/file-schema.ts";

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function clientJson(view: ClientView) {
  return {
    ...clientToEntry(view),
    response_types: view.responseTypes,
    has_secret: view.hasSecret,
    created_at: iso(view.createdAt),
    updated_at: iso(view.updatedAt),
  };
}

export function userJson(view: UserView) {
  return {
    id: view.id,
    username: view.username,
    email: view.email,
    claims: view.claims,
    roles: view.roles,
    enabled: view.enabled,
    locked_until: iso(view.lockedUntil),
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
