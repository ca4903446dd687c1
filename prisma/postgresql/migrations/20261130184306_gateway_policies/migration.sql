-- AlterTable
ALTER TABLE "Api" ADD COLUMN     "policies" JSONB;

-- AlterTable
ALTER TABLE "ApiRoute" ADD COLUMN     "policies" JSONB;

