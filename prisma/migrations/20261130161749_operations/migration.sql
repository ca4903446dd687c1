-- AlterTable
ALTER TABLE "Client" ADD COLUMN "previousSecretExpiresAt" DATETIME;
ALTER TABLE "Client" ADD COLUMN "previousSecretHash" TEXT;
ALTER TABLE "Client" ADD COLUMN "refreshTokenReuseGrace" INTEGER;

-- AlterTable
ALTER TABLE "OidcArtifact" ADD COLUMN "graceUsedAt" DATETIME;

