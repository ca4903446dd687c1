-- CreateTable
CREATE TABLE "AssertionIssuer" (
    "issuer" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "jwks" JSONB,
    "jwksUri" TEXT,
    "certificate" TEXT,
    "clients" JSONB NOT NULL,
    "subjectMapping" TEXT NOT NULL DEFAULT 'username',
    "scopes" JSONB NOT NULL,
    "maxAssertionLifetime" INTEGER NOT NULL DEFAULT 300,
    "algorithms" JSONB NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "AssertionReplay" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "AssertionReplay_expiresAt_idx" ON "AssertionReplay"("expiresAt");

