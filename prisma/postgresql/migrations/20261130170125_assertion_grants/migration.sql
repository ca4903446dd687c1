-- CreateTable
CREATE TABLE "AssertionIssuer" (
    "issuer" TEXT NOT NULL,
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
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AssertionIssuer_pkey" PRIMARY KEY ("issuer")
);

-- CreateTable
CREATE TABLE "AssertionReplay" (
    "id" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AssertionReplay_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AssertionReplay_expiresAt_idx" ON "AssertionReplay"("expiresAt");

