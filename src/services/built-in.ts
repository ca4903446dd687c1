// What Gatehouse itself registers and needs (admin/built-in.ts ensures it at every start): the console's
// own client and the admin API with its two scopes. The services refuse to delete them, since deleting
// would lock administrators out until the next start brought them back.
import { ConflictError } from "./errors.ts";

export const CONSOLE_CLIENT_ID = "gatehouse-console";
export const ADMIN_API = "urn:gatehouse:admin";
export const ADMIN_SCOPES = { read: "admin:read", write: "admin:write" } as const;

const BUILT_IN = {
  client: new Set<string>([CONSOLE_CLIENT_ID]),
  api: new Set<string>([ADMIN_API]),
  scope: new Set<string>(Object.values(ADMIN_SCOPES)),
};

/** @throws ConflictError when the entity is one of Gatehouse's own */
export function refuseDeletingBuiltIn(kind: keyof typeof BUILT_IN, id: string): void {
  if (BUILT_IN[kind].has(id)) throw new ConflictError(`${kind} ${id} is built in (the console and the admin API need it) and cannot be deleted`);
}
