-- CreateTable
CREATE TABLE "ConfigChange" (
    "seq" SERIAL NOT NULL,
    "entity" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ConfigChange_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "ConfigChange_createdAt_idx" ON "ConfigChange"("createdAt");

