import { directSql, type Database, type DatabaseKind } from "../database.ts";
import { sqlTime, type DirectSql, type SqlRow } from "../direct-sql.ts";
import { containsText, type PageQuery } from "../paging.ts";
import type { User as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

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

/** A Json column read by DirectSql: SQLite's text, or PostgreSQL's jsonb as the driver adapter gives it (text or parsed). */
function json(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

/** A "User" row read by DirectSql (SQLite's booleans are 0/1, times ISO 8601 texts), as Prisma would give it. */
function fromSqlRow(row: SqlRow): UserRecord {
  return {
    id: row.id as string,
    username: row.username as string,
    email: (row.email as string | null) ?? null,
    passwordHash: row.passwordHash as string,
    claims: record(json(row.claims)),
    roles: stringList(json(row.roles)),
    enabled: row.enabled === true || row.enabled === 1,
    passwordChangeRequired: row.passwordChangeRequired === true || row.passwordChangeRequired === 1,
    createdAt: sqlTime(row.createdAt)!,
    updatedAt: sqlTime(row.updatedAt)!,
  };
}

const SELECT_USER = `SELECT "id", "username", "email", "passwordHash", "claims", "roles", "enabled", "passwordChangeRequired", "createdAt", "updatedAt" FROM "User" WHERE`;

export class UserRepository {
  private readonly db: Database;
  private readonly kind: DatabaseKind;
  /** For the lookups of every sign-in and token (findById, findByUsername, findByEmail): direct-sql.ts. */
  private readonly sql: DirectSql;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its user (by id), so that caches of users follow it (catalog.ts) */
  constructor(db: Database, kind: DatabaseKind, revisions: RevisionRepository) {
    this.db = db;
    this.kind = kind;
    this.sql = directSql(db);
    this.revisions = revisions;
  }


  async #findBy(column: "id" | "username" | "email", value: string): Promise<UserRecord | null> {
    if (!storable(value)) return null;
    const [row] = await this.sql.query(`${SELECT_USER} "${column}" = $1`, [value]);
    return row ? fromSqlRow(row) : null;
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

  /** The user whose id this is, or null. One statement on the driver (direct-sql.ts). */
  findById(id: string): Promise<UserRecord | null> {
    return this.#findBy("id", id);
  }

  /** The user whose email this is, or null. One statement on the driver (direct-sql.ts). */
  findByEmail(email: string): Promise<UserRecord | null> {
    return this.#findBy("email", email);
  }

  /** The user whose username this is, or null. One statement on the driver (direct-sql.ts). */
  findByUsername(username: string): Promise<UserRecord | null> {
    return this.#findBy("username", username);
  }

  async count(): Promise<number> {
    return this.db.user.count();
  }

  async create(input: UserInput): Promise<UserRecord> {
    assertStorable("user", input);
    return toRecord(await this.revisions.changeWith(this.db.user.create({ data: input as never }), { entity: "user", key: input.id }));
  }

  async update(id: string, changes: Partial<UserInput>): Promise<UserRecord> {
    assertStorable("user", { id, ...changes });
    return toRecord(await this.revisions.changeWith(this.db.user.update({ where: { id }, data: changes as never }), { entity: "user", key: id }));
  }

  /**
   * Replaces the password of a user who must change it, in one conditional statement: only while the
   * hash is still `expectedHash` and the flag still set (an administrator's reset, or the same change
   * sent twice, in between makes it a no-op). Clears the flag. Null when nothing matched.
   */
  async replaceRequiredPassword(id: string, expectedHash: string, passwordHash: string): Promise<UserRecord | null> {
    if (!storable(id)) return null;
    const { count } = await this.revisions.changeWith(
      this.db.user.updateMany({ where: { id, passwordHash: expectedHash, passwordChangeRequired: true }, data: { passwordHash, passwordChangeRequired: false } }),
      { entity: "user", key: id },
    );
    return count === 1 ? this.findById(id) : null;
  }

  async delete(username: string): Promise<boolean> {
    if (!storable(username)) return false;
    const user = await this.findByUsername(username);
    if (!user) return false;
    return (await this.revisions.changeWith(this.db.user.deleteMany({ where: { id: user.id } }), { entity: "user", key: user.id })).count > 0;
  }
}
