-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Api" (
    "identifier" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "tokenFormat" TEXT NOT NULL DEFAULT 'jwt',
    "accessTokenTtl" INTEGER NOT NULL DEFAULT 3600,
    "scopes" JSONB NOT NULL,
    "tokenCheck" TEXT NOT NULL DEFAULT 'jwt',
    "trustedIssuers" JSONB,
    "allowQueryToken" BOOLEAN NOT NULL DEFAULT false,
    "introspectionClients" JSONB,
    "policies" JSONB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Api" ("accessTokenTtl", "allowQueryToken", "createdAt", "identifier", "introspectionClients", "name", "policies", "scopes", "tokenCheck", "tokenFormat", "trustedIssuers", "updatedAt") SELECT "accessTokenTtl", "allowQueryToken", "createdAt", "identifier", "introspectionClients", "name", "policies", "scopes", "tokenCheck", "tokenFormat", "trustedIssuers", "updatedAt" FROM "Api";
DROP TABLE "Api";
ALTER TABLE "new_Api" RENAME TO "Api";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

