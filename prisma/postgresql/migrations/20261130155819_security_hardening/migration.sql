-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "applicationType" TEXT NOT NULL DEFAULT 'web';

-- AlterTable
ALTER TABLE "Api" ADD COLUMN     "introspectionClients" JSONB;

-- AlterTable
ALTER TABLE "User" DROP COLUMN "failedLoginCount",
DROP COLUMN "lastFailedLoginAt",
DROP COLUMN "lockedUntil";

-- AlterTable
ALTER TABLE "OidcArtifact" ADD COLUMN     "accountId" TEXT,
ADD COLUMN     "clientId" TEXT;

-- AlterTable
ALTER TABLE "Revocation" ADD COLUMN     "notBefore" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "LoginThrottle" DROP COLUMN "windowStart",
ADD COLUMN     "lastAt" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "lastFailureAt" DOUBLE PRECISION NOT NULL DEFAULT 0,
ADD COLUMN     "lockSeconds" INTEGER NOT NULL DEFAULT 0,
DROP COLUMN "lockedUntil",
ADD COLUMN     "lockedUntil" DOUBLE PRECISION NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "OidcArtifact_clientId_idx" ON "OidcArtifact"("clientId");

-- CreateIndex
CREATE INDEX "OidcArtifact_accountId_idx" ON "OidcArtifact"("accountId");

-- CreateIndex
CREATE INDEX "LoginThrottle_lastAt_idx" ON "LoginThrottle"("lastAt");

