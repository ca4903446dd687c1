import { z } from "zod";
import type { Storage, ScopeRecord } from "../storage/index.ts";
import { NotFoundError, parseInput } from "./errors.ts";

export const scopeSchema = z
  .object({
    name: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, "invalid scope name"),
    description: z.string().max(500).default(""),
  })
  .strict();

/** Scopes OIDC defines; they always exist and need no registration. */
export const STANDARD_SCOPES = ["openid", "offline_access", "profile", "email", "address", "phone"];

export class ScopeService {
  private readonly storage: Storage;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  list(): Promise<ScopeRecord[]> {
    return this.storage.scopes.list();
  }

  async upsert(input: z.input<typeof scopeSchema>): Promise<{ scope: ScopeRecord; changed: boolean }> {
    const spec = parseInput(scopeSchema, input);
    const existing = (await this.storage.scopes.list()).find((s) => s.name === spec.name);
    if (existing && existing.description === spec.description) return { scope: existing, changed: false };
    const scope = await this.storage.scopes.upsert(spec);
    await this.storage.revisions.bump("config");
    return { scope, changed: true };
  }

  async delete(name: string): Promise<void> {
    if (!(await this.storage.scopes.delete(name))) throw new NotFoundError(`scope ${name} not found`);
    await this.storage.revisions.bump("config");
  }
}
