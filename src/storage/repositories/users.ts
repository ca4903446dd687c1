import type { Database, DatabaseKind } from "../database.ts";
import { containsText, type PageQuery } from "../paging.ts";
import type { User as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";

export interface UserRecord {
  id: string;
  username: string;
  email: string | null;
  passwordHash: string;
  claims: Record<string, unknown>;
  roles: string[];
  enabled: boolean;
  /** The password was generated or set as temporary: the next sign-in must choose a new one first. */
  passwordChangeRequired: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type UserInput = Pick<UserRecord, "id" | "username" | "email" | "passwordHash" | "claims" | "roles" | "enabled" | "passwordChangeRequired">;

function toRecord(row: Row): UserRecord {
  return { ...row, claims: record(row.claims), roles: stringList(row.roles) };
}

export class UserRepository {
  private readonly db: Database;
  private readonly kind: DatabaseKind;

  constructor(db: Database, kind: DatabaseKind) {
    this.db = db;
    this.kind = kind;
  }

  async list(): Promise<UserRecord[]> {
    return (await this.db.user.findMany({ orderBy: { username: "asc" } })).map(toRecord);
  }

  /** One page of users by username, whose username or email contains `search` (any case). */
  async page(query: PageQuery): Promise<{ items: UserRecord[]; total: number }> {
    if (!storable(query.search)) return { items: [], total: 0 };
    const where = query.search
      ? { OR: [{ username: containsText(this.kind, query.search) }, { email: containsText(this.kind, query.search) }] }
      : {};
    const [rows, total] = await Promise.all([
      this.db.user.findMany({ where, orderBy: { username: "asc" }, skip: query.offset, take: query.limit }),
      this.db.user.count({ where }),
    ]);
    return { items: rows.map(toRecord), total };
  }

  async findById(id: string): Promise<UserRecord | null> {
    if (!storable(id)) return null;
    const row = await this.db.user.findUnique({ where: { id } });
    return row ? toRecord(row) : null;
  }

  async findByEmail(email: string): Promise<UserRecord | null> {
    if (!storable(email)) return null;
    const row = await this.db.user.findUnique({ where: { email } });
    return row ? toRecord(row) : null;
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    if (!storable(username)) return null;
    const row = await this.db.user.findUnique({ where: { username } });
    return row ? toRecord(row) : null;
  }

  async count(): Promise<number> {
    return this.db.user.count();
  }

  async create(input: UserInput): Promise<UserRecord> {
    assertStorable("user", input);
    return toRecord(await this.db.user.create({ data: input as never }));
  }

  async update(id: string, changes: Partial<UserInput>): Promise<UserRecord> {
    assertStorable("user", { id, ...changes });
    return toRecord(await this.db.user.update({ where: { id }, data: changes as never }));
  }

  /**
   * Replaces the password of a user who must change it, in one conditional statement: only while the
   * hash is still `expectedHash` and the flag still set (an administrator's reset, or the same change
   * sent twice, in between makes it a no-op). Clears the flag. Null when nothing matched.
   */
  async replaceRequiredPassword(id: string, expectedHash: string, passwordHash: string): Promise<UserRecord | null> {
    if (!storable(id)) return null;
    const { count } = await this.db.user.updateMany({
      where: { id, passwordHash: expectedHash, passwordChangeRequired: true },
      data: { passwordHash, passwordChangeRequired: false },
    });
    return count === 1 ? this.findById(id) : null;
  }

  async delete(username: string): Promise<boolean> {
    if (!storable(username)) return false;
    return (await this.db.user.deleteMany({ where: { username } })).count > 0;
  }
}
