-- CreateTable
CREATE TABLE "ConfigChange" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "entity" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "ConfigChange_createdAt_idx" ON "ConfigChange"("createdAt");

