import type { Database } from "../database.ts";
import type { AssertionIssuer as Row } from "../generated/sqlite/client.ts";
import { record, stringList } from "../json.ts";
import { assertStorable, storable } from "./storable.ts";
import type { RevisionRepository } from "./revisions.ts";

export interface AssertionIssuerRecord {
  issuer: string;
  kind: "jwt" | "saml";
  name: string;
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUri: string | null;
  certificate: string | null;
  clients: string[];
  subjectMapping: "username" | "email" | "service";
  scopes: string[];
  maxAssertionLifetime: number;
  algorithms: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type AssertionIssuerInput = Omit<AssertionIssuerRecord, "createdAt" | "updatedAt">;

function toRecord(row: Row): AssertionIssuerRecord {
  return {
    ...row,
    kind: row.kind === "saml" ? "saml" : "jwt",
    jwks: row.jwks ? (record(row.jwks) as AssertionIssuerRecord["jwks"]) : null,
    clients: stringList(row.clients),
    subjectMapping: row.subjectMapping === "email" || row.subjectMapping === "service" ? row.subjectMapping : "username",
    scopes: stringList(row.scopes),
    algorithms: stringList(row.algorithms),
  };
}

export class AssertionIssuerRepository {
  private readonly db: Database;
  private readonly revisions: RevisionRepository;

  /** @param revisions every write is logged, in its own transaction, as a change of its issuer (change-feed.ts) */
  constructor(db: Database, revisions: RevisionRepository) {
    this.db = db;
    this.revisions = revisions;
  }

  async list(): Promise<AssertionIssuerRecord[]> {
    return (await this.db.assertionIssuer.findMany({ orderBy: { issuer: "asc" } })).map(toRecord);
  }

  async find(issuer: string): Promise<AssertionIssuerRecord | null> {
    if (!storable(issuer)) return null;
    const row = await this.db.assertionIssuer.findUnique({ where: { issuer } });
    return row ? toRecord(row) : null;
  }

  async upsert(input: AssertionIssuerInput): Promise<AssertionIssuerRecord> {
    assertStorable("issuer", input);
    const { issuer, ...rest } = input;
    const data = { ...rest, jwks: (input.jwks ?? undefined) as never };
    const update = { ...rest, jwks: (input.jwks ?? null) as never };
    return toRecord(await this.revisions.changeWith(this.db.assertionIssuer.upsert({ where: { issuer }, create: { issuer, ...data }, update }), { entity: "issuer", key: issuer }));
  }

  async delete(issuer: string): Promise<boolean> {
    if (!storable(issuer)) return false;
    return (await this.revisions.changeWith(this.db.assertionIssuer.deleteMany({ where: { issuer } }), { entity: "issuer", key: issuer })).count > 0;
  }
}
