-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "previousSecretExpiresAt" TIMESTAMP(3),
ADD COLUMN     "previousSecretHash" TEXT,
ADD COLUMN     "refreshTokenReuseGrace" INTEGER;

-- AlterTable
ALTER TABLE "OidcArtifact" ADD COLUMN     "graceUsedAt" TIMESTAMP(3);

