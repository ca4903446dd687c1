-- AlterTable
ALTER TABLE "Api" ADD COLUMN "introspectionClients" JSONB;

-- AlterTable
ALTER TABLE "OidcArtifact" ADD COLUMN "accountId" TEXT;
ALTER TABLE "OidcArtifact" ADD COLUMN "clientId" TEXT;

-- AlterTable
ALTER TABLE "Revocation" ADD COLUMN "notBefore" DATETIME;

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Client" (
    "clientId" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "confidential" BOOLEAN NOT NULL DEFAULT true,
    "secretHash" TEXT,
    "redirectUris" JSONB NOT NULL,
    "postLogoutRedirectUris" JSONB NOT NULL,
    "grantTypes" JSONB NOT NULL,
    "responseTypes" JSONB NOT NULL,
    "scopes" JSONB NOT NULL,
    "tokenEndpointAuthMethod" TEXT NOT NULL,
    "applicationType" TEXT NOT NULL DEFAULT 'web',
    "jwks" JSONB,
    "jwksUri" TEXT,
    "accessTokenTtl" INTEGER,
    "idTokenTtl" INTEGER,
    "refreshTokenTtl" INTEGER,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Client" ("accessTokenTtl", "clientId", "confidential", "createdAt", "enabled", "grantTypes", "idTokenTtl", "jwks", "jwksUri", "name", "postLogoutRedirectUris", "redirectUris", "refreshTokenTtl", "responseTypes", "scopes", "secretHash", "tokenEndpointAuthMethod", "updatedAt") SELECT "accessTokenTtl", "clientId", "confidential", "createdAt", "enabled", "grantTypes", "idTokenTtl", "jwks", "jwksUri", "name", "postLogoutRedirectUris", "redirectUris", "refreshTokenTtl", "responseTypes", "scopes", "secretHash", "tokenEndpointAuthMethod", "updatedAt" FROM "Client";
DROP TABLE "Client";
ALTER TABLE "new_Client" RENAME TO "Client";
CREATE TABLE "new_User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "username" TEXT NOT NULL,
    "email" TEXT,
    "passwordHash" TEXT NOT NULL,
    "claims" JSONB NOT NULL,
    "roles" JSONB NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_User" ("claims", "createdAt", "email", "enabled", "id", "passwordHash", "roles", "updatedAt", "username") SELECT "claims", "createdAt", "email", "enabled", "id", "passwordHash", "roles", "updatedAt", "username" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_username_key" ON "User"("username");
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "new_LoginThrottle" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "lastAt" REAL NOT NULL DEFAULT 0,
    "lastFailureAt" REAL NOT NULL DEFAULT 0,
    "lockedUntil" REAL NOT NULL DEFAULT 0,
    "lockSeconds" INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "new_LoginThrottle" ("failures", "key", "lockedUntil") SELECT "failures", "key", coalesce("lockedUntil", 0) AS "lockedUntil" FROM "LoginThrottle";
DROP TABLE "LoginThrottle";
ALTER TABLE "new_LoginThrottle" RENAME TO "LoginThrottle";
CREATE INDEX "LoginThrottle_lastAt_idx" ON "LoginThrottle"("lastAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "OidcArtifact_clientId_idx" ON "OidcArtifact"("clientId");

-- CreateIndex
CREATE INDEX "OidcArtifact_accountId_idx" ON "OidcArtifact"("accountId");

