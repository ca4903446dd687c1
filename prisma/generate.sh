#!/usr/bin/env bash
# npm's postinstall: generates both Prisma clients (src/storage/generated/{sqlite,postgresql}) unless
# they are already generated from these schemas by this Prisma version. `npx gatehouse` in the
# project runs the project's postinstall again (npm exec installs the package it names, here the
# project itself): regenerating then rewrote the clients under a Gatehouse process that was starting,
# which failed with "Cannot find module .../generated/postgresql/client.ts". The stamp records what the
# clients were generated from; a change to either schema or to Prisma generates them again.
set -euo pipefail
cd "$(dirname "$0")/.."

out=src/storage/generated
stamp="$out/.generated-from"
wanted=$(cat prisma/schema.prisma prisma/postgresql/schema.prisma node_modules/prisma/package.json node_modules/@prisma/client/package.json | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -f "$out/sqlite/client.ts" ] && [ -f "$out/postgresql/client.ts" ]; then
  echo "Prisma clients already generated from these schemas (src/storage/generated)"
  exit 0
fi
rm -f "$stamp"
node_modules/.bin/prisma generate --schema prisma/schema.prisma
node_modules/.bin/prisma generate --schema prisma/postgresql/schema.prisma
echo "$wanted" > "$stamp"
