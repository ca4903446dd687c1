-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Client" (
    "clientId" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "confidential" BOOLEAN NOT NULL DEFAULT true,
    "secretHash" TEXT,
    "previousSecretHash" TEXT,
    "previousSecretExpiresAt" DATETIME,
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
    "refreshTokenReuseGrace" INTEGER,
    "allowedOrigins" JSONB,
    "dpopBoundAccessTokens" BOOLEAN NOT NULL DEFAULT false,
    "tokenExchangeTargets" JSONB,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Client" ("accessTokenTtl", "allowedOrigins", "applicationType", "clientId", "confidential", "createdAt", "enabled", "grantTypes", "idTokenTtl", "jwks", "jwksUri", "name", "postLogoutRedirectUris", "previousSecretExpiresAt", "previousSecretHash", "redirectUris", "refreshTokenReuseGrace", "refreshTokenTtl", "responseTypes", "scopes", "secretHash", "tokenEndpointAuthMethod", "updatedAt") SELECT "accessTokenTtl", "allowedOrigins", "applicationType", "clientId", "confidential", "createdAt", "enabled", "grantTypes", "idTokenTtl", "jwks", "jwksUri", "name", "postLogoutRedirectUris", "previousSecretExpiresAt", "previousSecretHash", "redirectUris", "refreshTokenReuseGrace", "refreshTokenTtl", "responseTypes", "scopes", "secretHash", "tokenEndpointAuthMethod", "updatedAt" FROM "Client";
DROP TABLE "Client";
ALTER TABLE "new_Client" RENAME TO "Client";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

