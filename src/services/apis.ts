import { z } from "zod";
import type { Storage, ApiRecord } from "../storage/index.ts";
import { NotFoundError, parseInput } from "./errors.ts";

export const apiSchema = z
  .object({
    identifier: z.url({ protocol: /^(https?|urn)$/ }).or(z.string().regex(/^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i)),
    name: z.string().min(1).max(200),
    tokenFormat: z.enum(["jwt", "opaque"]).default("jwt"),
    accessTokenTtl: z.number().int().positive().max(24 * 3600).default(3600),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "invalid scope name")).default([]),
  })
  .strict();

export class ApiService {
  private readonly storage: Storage;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  list(): Promise<ApiRecord[]> {
    return this.storage.apis.list();
  }

  async get(identifier: string): Promise<ApiRecord> {
    const api = await this.storage.apis.find(identifier);
    if (!api) throw new NotFoundError(`api ${identifier} not found`);
    return api;
  }

  async upsert(input: z.input<typeof apiSchema>): Promise<{ api: ApiRecord; changed: boolean }> {
    const spec = parseInput(apiSchema, input) as ApiRecord;
    const existing = await this.storage.apis.find(spec.identifier);
    if (existing && JSON.stringify(existing) === JSON.stringify(spec)) return { api: existing, changed: false };
    const api = await this.storage.apis.upsert(spec);
    await this.storage.revisions.bump("config");
    return { api, changed: true };
  }

  async delete(identifier: string): Promise<void> {
    if (!(await this.storage.apis.delete(identifier))) throw new NotFoundError(`api ${identifier} not found`);
    await this.storage.revisions.bump("config");
  }
}
