#!/usr/bin/env bash
# Schema tooling. prisma/schema.prisma (SQLite) is the single source of truth; its PostgreSQL twin and
# both migration sets are derived from it. Each migration folder keeps a snapshot of the schema it
# leads to, so every migration can be checked offline against Prisma's own diff.
#   twin        regenerate prisma/postgresql/schema.prisma
#   new NAME    add a migration for both databases (from the last snapshot to the current schema)
#   check       fail if the twin, a migration or the schema drifted (CI runs this)
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

twin() {
  sed -e 's/provider = "sqlite"/provider = "postgresql"/' \
      -e 's#url      = "file:./unused-see-prisma-config.db"#url      = "postgresql://unused/see-prisma-config"#' \
      -e 's#output       = "../src/storage/generated/sqlite"#output       = "../../src/storage/generated/postgresql"#' \
      -e '1,3c // GENERATED from prisma/schema.prisma by prisma/migrations.sh: do not edit. Run `npm run db:twin`.' \
      prisma/schema.prisma
}

# The SQL that takes a database from schema $1 (or empty) to schema $2.
diff_sql() {
  local from=(--from-empty)
  [ -n "$1" ] && from=(--from-schema-datamodel "$1")
  npx --no-install prisma migrate diff "${from[@]}" --to-schema-datamodel "$2" --script 2>/dev/null | grep -v '^Loaded Prisma config'
}

PAIRS=("prisma/schema.prisma:prisma/migrations" "prisma/postgresql/schema.prisma:prisma/postgresql/migrations")

case "${1:-}" in
  twin)
    twin > prisma/postgresql/schema.prisma
    echo "wrote prisma/postgresql/schema.prisma" ;;
  new)
    name="${2:?usage: migrations.sh new NAME}"
    twin > prisma/postgresql/schema.prisma
    stamp=$(date -u +%Y%m%d%H%M%S)
    for pair in "${PAIRS[@]}"; do
      schema=${pair%%:*}; dir=${pair#*:}
      existing=("$dir"/*/); last=""
      [ ${#existing[@]} -gt 0 ] && last=${existing[-1]}
      mkdir -p "$dir/${stamp}_$name"
      diff_sql "${last:+${last}schema.prisma}" "$schema" > "$dir/${stamp}_$name/migration.sql"
      cp "$schema" "$dir/${stamp}_$name/schema.prisma"
      echo "wrote $dir/${stamp}_$name"
    done ;;
  check)
    status=0
    diff -q prisma/postgresql/schema.prisma <(twin) >/dev/null || { echo "drift: prisma/postgresql/schema.prisma is not the twin of prisma/schema.prisma (npm run db:twin)"; status=1; }
    for pair in "${PAIRS[@]}"; do
      schema=${pair%%:*}; dir=${pair#*:}; previous=""
      for migration in "$dir"/*/; do
        diff -q "${migration}migration.sql" <(diff_sql "$previous" "${migration}schema.prisma") >/dev/null \
          || { echo "drift: ${migration}migration.sql is not the step to its schema snapshot"; status=1; }
        previous="${migration}schema.prisma"
      done
      diff -q "$previous" "$schema" >/dev/null || { echo "drift: $schema has changes without a migration in $dir (npm run db:migration -- NAME)"; status=1; }
    done
    [ $status = 0 ] && echo "schema, twin and migrations agree"
    exit $status ;;
  *)
    sed -n '2,8p' "$0"; exit 2 ;;
esac
