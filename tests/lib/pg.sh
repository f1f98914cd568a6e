# tests/lib/pg.sh: start and stop a throwaway PostgreSQL cluster (sourced).
#   pg_start DIR   initdb + start a cluster in DIR (unix socket in DIR, no TCP unless
#                  PG_TCP_PORT is set); exports PGHOST PGPORT PGUSER
#   pg_stop DIR    stop it (fast shutdown)
# As root the server runs as the postgres user (PostgreSQL refuses to run as root).
# The cluster is for tests: fsync is off to keep the suite fast; durability is not
# what the tests check (the benchmark starts its own cluster with the defaults).

pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  local dir=$1 bin
  bin=$(pg_bindir)
  [ -n "$bin" ] || { echo "pg: no PostgreSQL server found (install postgresql)" >&2; return 1; }
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pg_as "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
      pg_as "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C >"$dir.initdb.log" 2>&1 ||
      { cat "$dir.initdb.log" >&2; return 1; }
  fi
  local listen="''" port=${PG_TCP_PORT:-5432}
  [ -n "${PG_TCP_PORT:-}" ] && listen="'${PG_LISTEN:-127.0.0.1}'"
  local opts="-c listen_addresses=$listen -c port=$port -c unix_socket_directories='$dir'"
  opts="$opts -c max_connections=200 -c shared_buffers=256MB ${PG_EXTRA_OPTS:--c fsync=off -c full_page_writes=off}"
  pg_as "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null ||
    { cat "$dir/server.log" >&2; return 1; }
  export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

pg_stop() {
  local dir=$1 bin
  bin=$(pg_bindir)
  [ -f "$dir/postmaster.pid" ] && pg_as "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1
  return 0
}
