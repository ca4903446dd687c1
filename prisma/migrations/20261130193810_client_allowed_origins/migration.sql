-- AlterTable
ALTER TABLE "Client" ADD COLUMN "allowedOrigins" JSONB;

