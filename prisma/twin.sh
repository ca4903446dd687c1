#!/usr/bin/env bash
# Regenerates the PostgreSQL twin of prisma/schema.prisma (the single source of truth).
# With --check it exits non-zero when the checked-in twin or either migration set drifts from the schema.
set -euo pipefail
cd "$(dirname "$0")/.."
twin=$(sed -e 's/provider = "sqlite"/provider = "postgresql"/' \
           -e 's#url      = "file:./unused-see-prisma-config.db"#url      = "postgresql://unused/see-prisma-config"#' \
           -e 's#output       = "../src/storage/generated/sqlite"#output       = "../../src/storage/generated/postgresql"#' \
           -e '1,3c // GENERATED from prisma/schema.prisma by prisma/twin.sh: do not edit. Run `npm run db:twin`.' \
           prisma/schema.prisma)

# The SQL that the migrations of one provider must add up to, from an empty database.
expected_sql() { npx --no-install prisma migrate diff --from-empty --to-schema-datamodel "$1" --script 2>/dev/null | grep -v '^Loaded Prisma config'; }
# What the checked-in migrations of one provider add up to.
checked_in_sql() { cat "$1"/*/migration.sql; }

if [ "${1:-}" = "--check" ]; then
  status=0
  diff -u prisma/postgresql/schema.prisma <(printf '%s\n' "$twin") >/dev/null || { echo "drift: prisma/postgresql/schema.prisma is not the twin of prisma/schema.prisma (run npm run db:twin)"; status=1; }
  for pair in "prisma/schema.prisma:prisma/migrations" "prisma/postgresql/schema.prisma:prisma/postgresql/migrations"; do
    schema=${pair%%:*}; dir=${pair#*:}
    diff -u <(checked_in_sql "$dir") <(expected_sql "$schema") >/dev/null || { echo "drift: $dir does not match $schema (add a migration: npm run db:migration -- NAME)"; status=1; }
  done
  [ $status = 0 ] && echo "schema, twin and migrations agree"
  exit $status
fi
printf '%s\n' "$twin" > prisma/postgresql/schema.prisma
echo "wrote prisma/postgresql/schema.prisma"
