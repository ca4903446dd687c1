// Scopes clients may request beyond OIDC's standard ones, with the text the consent page shows.
import { z } from "zod";
import type { ScopeRecord, Storage } from "../storage/index.ts";
import { refuseDeletingBuiltIn } from "./built-in.ts";
import type { ServiceContext } from "./context.ts";
import { ConflictError, NotFoundError, parseInput } from "./errors.ts";
import { checkIfMatch } from "./etag.ts";

export const scopeInputSchema = z
  .object({
    name: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, "invalid scope name"),
    description: z.string().max(500).default(""),
  })
  .strict();

export type ScopeInput = z.input<typeof scopeInputSchema>;
export type ScopeResource = ScopeRecord;

/** Scopes OIDC defines; they always exist and need no registration. */
export const STANDARD_SCOPES = ["openid", "offline_access", "profile", "email", "address", "phone"];

export class ScopeService {
  private readonly storage: Storage;
  private readonly context: ServiceContext;

  constructor(context: ServiceContext) {
    this.context = context;
    this.storage = context.storage;
  }

  list(): Promise<ScopeResource[]> {
    return this.storage.scopes.list();
  }

  async get(name: string): Promise<ScopeResource> {
    const scope = (await this.storage.scopes.list()).find((s) => s.name === name);
    if (!scope) throw new NotFoundError(`scope ${name} not found`);
    return scope;
  }

  /** @throws ConflictError when the scope exists */
  async create(input: ScopeInput): Promise<ScopeResource> {
    const spec = parseInput(scopeInputSchema, input);
    if ((await this.storage.scopes.list()).some((s) => s.name === spec.name)) throw new ConflictError(`scope ${spec.name} already exists`);
    const scope = await this.storage.scopes.upsert(spec);
    await this.changed("create", scope.name, { description: scope.description });
    return scope;
  }

  /** Changes the description. */
  async update(name: string, changes: Partial<Pick<ScopeInput, "description">>, { ifMatch }: { ifMatch?: string } = {}): Promise<ScopeResource> {
    const current = await this.get(name);
    checkIfMatch(current, ifMatch);
    const spec = parseInput(scopeInputSchema, { ...current, ...changes, name });
    if (spec.description === current.description) return current;
    const scope = await this.storage.scopes.upsert(spec);
    await this.changed("update", name, { description: [current.description, scope.description] });
    return scope;
  }

  /** Creates or updates the scope to be exactly the input (a declarative file). */
  async apply(input: ScopeInput): Promise<{ scope: ScopeResource; outcome: "created" | "updated" | "unchanged" }> {
    const spec = parseInput(scopeInputSchema, input);
    const existing = (await this.storage.scopes.list()).find((s) => s.name === spec.name);
    if (!existing) return { scope: await this.create(spec), outcome: "created" };
    if (existing.description === spec.description) return { scope: existing, outcome: "unchanged" };
    return { scope: await this.update(spec.name, spec), outcome: "updated" };
  }

  /** @throws ConflictError for the admin API's scopes; NotFoundError */
  async delete(name: string): Promise<void> {
    refuseDeletingBuiltIn("scope", name);
    if (!(await this.storage.scopes.delete(name))) throw new NotFoundError(`scope ${name} not found`);
    await this.changed("delete", name, null);
  }

  private async changed(action: string, name: string, changes: Record<string, unknown> | null): Promise<void> {
    await this.context.audit.record(action, "scope", name, changes);
  }
}
