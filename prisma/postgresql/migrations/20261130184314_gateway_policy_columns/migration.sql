-- AlterTable
ALTER TABLE "Api" DROP COLUMN "claimHeaders",
DROP COLUMN "forwardToken",
DROP COLUMN "outboundOAuth";

