#!/usr/bin/env bash
# db_migrate: `assay db migrate` is all or nothing, and a refusal names the privilege
# that is missing. On a cluster of its own (the group roles must not exist yet, and
# roles are cluster-wide), a login role that owns a fresh database but lacks
# CREATEROLE runs the migrations: the run fails naming CREATEROLE (not the assay_*
# roles), and leaves the database exactly as it was: no schema_migrations, no table,
# no view, no role. Given CREATEROLE, the same command applies every migration, and
# a second run applies none.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
IT_NAME=db_migrate
IT_TMP=$(mktemp -d /tmp/assay-it-db_migrate.XXXXXX)
chmod 755 "$IT_TMP"
trap it_cleanup EXIT
# always a private cluster: the shared test cluster already has the group roles
IT_OWN_PG=$IT_TMP/pg
pg_start "$IT_OWN_PG" || fail "could not start PostgreSQL"
export ASSAY_CONFIG=/dev/null
psu() { psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "${2:-postgres}" -At -v ON_ERROR_STOP=1 -c "$1"; }

psu "CREATE ROLE migrator LOGIN" >/dev/null
createdb -h "$PGHOST" -p "$PGPORT" -U postgres -O migrator fresh || fail "could not create database"
export ASSAY_DB="host=$PGHOST port=$PGPORT user=migrator dbname=fresh"

# what the database holds: relations, types and functions of schema public, and roles
snapshot() {
  psu "SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class
       WHERE relnamespace = 'public'::regnamespace" fresh
  psu "SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace" fresh
  psu "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace" fresh
  psu "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'assay%'"
}
before=$(snapshot)

rc=0
"$BIN/assay" db migrate >"$IT_TMP/out.log" 2>"$IT_TMP/err.log" || rc=$?
cat "$IT_TMP/err.log"
[ $rc -eq 4 ] || fail "migrate without CREATEROLE exited $rc (expected 4)"
grep -q 'CREATEROLE' "$IT_TMP/err.log" || fail "the error does not name CREATEROLE"
grep -q 'role "migrator"' "$IT_TMP/err.log" || fail "the error does not name the role"
grep -q 'needs assay_operator' "$IT_TMP/err.log" &&
  fail "the error blames assay_operator instead of the missing privilege"
grep -q 'nothing was applied' "$IT_TMP/err.log" || fail "the error does not say nothing was applied"
grep -q '^applied' "$IT_TMP/out.log" && fail "a failed run printed applied migrations: $(cat "$IT_TMP/out.log")"
after=$(snapshot)
[ "$before" = "$after" ] || fail "a failed migrate changed the database:
before: $before
after:  $after"
[ "$(psu "SELECT to_regclass('schema_migrations') IS NULL" fresh)" = t ] ||
  fail "schema_migrations exists after a failed run"
# db status on the untouched database: every migration pending (exit 1)
rc=0
"$BIN/assay" db status >"$IT_TMP/status.log" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "db status exited $rc on an unmigrated database"
grep -q 'applied\|[0-9]:[0-9]' "$IT_TMP/status.log" && fail "db status shows applied migrations"

# with the privilege the same command applies everything, once
psu "ALTER ROLE migrator CREATEROLE" >/dev/null
"$BIN/assay" db migrate >"$IT_TMP/out2.log" 2>&1 || { cat "$IT_TMP/out2.log"; fail "migrate with CREATEROLE failed"; }
known=$(ls "$IT_ROOT"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
[ "$(grep -c '^applied ' "$IT_TMP/out2.log")" = "$known" ] || fail "expected $known applied: $(cat "$IT_TMP/out2.log")"
[ "$(psu "SELECT count(*) FROM schema_migrations" fresh)" = "$known" ] || fail "schema_migrations incomplete"
[ "$(psu "SELECT count(*) FROM pg_roles WHERE rolname IN ('assay_broker','assay_operator','assay_reporting')")" = 3 ] ||
  fail "the group roles were not created"
"$BIN/assay" db migrate >"$IT_TMP/out3.log" 2>&1 || fail "a second migrate failed"
grep -q '^applied' "$IT_TMP/out3.log" && fail "a second migrate applied something again"
"$BIN/assay" db status >/dev/null || fail "db status reports pending migrations after migrate"

# the other way out the message gives: with the roles created by an administrator
# (they exist now), the owner of a second database migrates it without CREATEROLE
psu "CREATE ROLE migrator2 LOGIN" >/dev/null
createdb -h "$PGHOST" -p "$PGPORT" -U postgres -O migrator2 second || fail "could not create database"
ASSAY_DB="host=$PGHOST port=$PGPORT user=migrator2 dbname=second" "$BIN/assay" db migrate \
  >"$IT_TMP/out5.log" 2>&1 || fail "migrate without CREATEROLE, roles present: $(cat "$IT_TMP/out5.log")"

# a failure rolls back the earlier migrations of the same run: forget the records
# of 030_roles (idempotent: it re-runs cleanly) and of 040_composite (its view
# exists, so re-running it fails); the run must not record 030 again
psu "ALTER ROLE migrator NOCREATEROLE" >/dev/null
psu "DELETE FROM schema_migrations WHERE version IN (30, 40)" fresh >/dev/null
rc=0
"$BIN/assay" db migrate >"$IT_TMP/out4.log" 2>"$IT_TMP/err4.log" || rc=$?
[ $rc -eq 4 ] || fail "re-running 040 over its own view exited $rc: $(cat "$IT_TMP/err4.log")"
grep -q '040_composite.sql failed: relation "sample_composite" already exists' "$IT_TMP/err4.log" ||
  fail "unexpected error: $(cat "$IT_TMP/err4.log")"
grep -q 'nothing was applied (the 1 migration before it in this run rolled back' "$IT_TMP/err4.log" ||
  fail "the error does not say the earlier migration was rolled back: $(cat "$IT_TMP/err4.log")"
[ "$(psu "SELECT count(*) FROM schema_migrations WHERE version IN (30, 40)" fresh)" = 0 ] ||
  fail "a failed run recorded 030_roles"
echo "PASS db_migrate"
