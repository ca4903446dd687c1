// Writes test fixtures through the same services the CLI and admin use.
import { openStorage, type Storage } from "../../src/storage/index.ts";
import { createServices, type Services } from "../../src/services/index.ts";
import type { FreshDatabase } from "./databases.ts";

export async function withServices<T>(db: FreshDatabase, work: (services: Services, storage: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(db.url);
  try {
    return await work(createServices(storage, { keyEncryptionSecret: db.env.KEY_ENCRYPTION_SECRET! }), storage);
  } finally {
    await storage.close();
  }
}
