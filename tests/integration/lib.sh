# tests/integration/lib.sh: helpers for integration tests (sourced). They start
# the real programs (assay-broker, assay-worker, assay-simllm) against a real
# PostgreSQL: the cluster ops/test.sh started (PGHOST set), or one of their own.
#
#   it_setup NAME          temp dir, fresh database, migrations, CurveZMQ keys
#                          (broker pair, one worker pair in the allowlist);
#                          cleanup on exit
#   start_broker [ARGS]    assay-broker on a free port (ASSAY_BROKER is set)
#   restart_broker [ARGS]  another assay-broker on the same address
#   start_worker NAME SLOTS [ARGS]
#   start_simllm [ARGS]    assay-simllm on a free port (SIMLLM_URL is set)
#   wait_job JOB SECONDS   until the job is done (fails the test on timeout)
#   sql "SELECT ..."       one value from the test database
#   fail MESSAGE           print logs and exit 1

IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${ASSAY_BIN:-$IT_ROOT/build/bin}
. "$IT_ROOT/tests/lib/pg.sh"
IT_PIDS=()
IT_OWN_PG=""

it_log() { echo "[$(date +%H:%M:%S)] $*"; }

fail() {
  echo "FAIL: $*" >&2
  for f in "$IT_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

it_cleanup() {
  local rc=$?
  for p in "${IT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${IT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${IT_DBNAME:-}" ]; then
    pg_as dropdb -h "$PGHOST" -p "$PGPORT" -U postgres --if-exists "$IT_DBNAME" >/dev/null 2>&1 || true
  fi
  [ -n "$IT_OWN_PG" ] && pg_stop "$IT_OWN_PG"
  if [ $rc -eq 0 ] || [ -z "${IT_KEEP:-}" ]; then rm -rf "$IT_TMP"; else echo "kept $IT_TMP" >&2; fi
  exit $rc
}

# a port below the kernel's ephemeral range (32768-60999 by default), so an outgoing
# connection of another test cannot hold it between this check and the bind
free_port() {
  local p
  for p in $(shuf -i 20000-32000 -n 100); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

it_setup() {
  IT_NAME=$1
  IT_TMP=$(mktemp -d "/tmp/assay-it-$IT_NAME.XXXXXX")
  chmod 755 "$IT_TMP"
  trap it_cleanup EXIT
  if [ -z "${PGHOST:-}" ]; then
    IT_OWN_PG=$IT_TMP/pg
    pg_start "$IT_OWN_PG" || fail "could not start PostgreSQL"
  fi
  IT_DBNAME="it_${IT_NAME}_$$"
  createdb -h "$PGHOST" -p "$PGPORT" -U postgres "$IT_DBNAME" || fail "could not create database"
  export ASSAY_DB="host=$PGHOST port=$PGPORT user=postgres dbname=$IT_DBNAME"
  export ASSAY_CONFIG=/dev/null
  "$BIN/assay" db migrate >"$IT_TMP/migrate.log" 2>&1 || fail "db migrate failed"
  it_keys
}

# CurveZMQ keys for this test: the broker's pair, a worker pair whose public key
# is the whole allowlist; passed through the environment like any config key
it_keys() {
  mkdir -p "$IT_TMP/keys"
  "$BIN/assay" keygen --out "$IT_TMP/keys/broker" >/dev/null || fail "keygen failed"
  "$BIN/assay" keygen --out "$IT_TMP/keys/worker" >/dev/null || fail "keygen failed"
  cp "$IT_TMP/keys/worker.pub" "$IT_TMP/keys/allowed"
  export ASSAY_BROKER_SECRET_KEY_FILE=$IT_TMP/keys/broker.key
  export ASSAY_BROKER_ALLOWED_KEYS=$IT_TMP/keys/allowed
  export ASSAY_WORKER_KEY_FILE=$IT_TMP/keys/worker.key
  export ASSAY_WORKER_BROKER_PUBLIC_KEY=$IT_TMP/keys/broker.pub
}

sql() {
  psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$IT_DBNAME" -At -v ON_ERROR_STOP=1 -c "$1"
}

start_broker() {
  BROKER_PORT=$(free_port)
  export ASSAY_BROKER="tcp://127.0.0.1:$BROKER_PORT"
  "$BIN/assay-broker" --bind "$ASSAY_BROKER" "$@" >>"$IT_TMP/broker.log" 2>&1 &
  BROKER_PID=$!
  IT_PIDS+=("$BROKER_PID")
}

# restart_broker [ARGS]: a new broker on the same address (workers reconnect to it)
restart_broker() {
  "$BIN/assay-broker" --bind "$ASSAY_BROKER" "$@" >>"$IT_TMP/broker.log" 2>&1 &
  BROKER_PID=$!
  IT_PIDS+=("$BROKER_PID")
}

start_worker() {
  local name=$1 slots=$2
  shift 2
  "$BIN/assay-worker" --broker "$ASSAY_BROKER" --name "$name" --slots "$slots" "$@" \
    >>"$IT_TMP/worker-$name.log" 2>&1 &
  WORKER_PID=$!
  IT_PIDS+=("$WORKER_PID")
}

start_simllm() {
  SIMLLM_PORT=$(free_port)
  "$BIN/assay-simllm" --listen "127.0.0.1:$SIMLLM_PORT" "$@" >>"$IT_TMP/simllm.log" 2>&1 &
  SIMLLM_PID=$!
  IT_PIDS+=("$SIMLLM_PID")
  SIMLLM_URL="http://127.0.0.1:$SIMLLM_PORT/v1"
  local i
  for i in $(seq 1 100); do
    curl -sf "$SIMLLM_URL/models" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "assay-simllm did not come up"
}

wait_job() {
  local job=$1 secs=$2 i state
  for i in $(seq 1 $((secs * 5))); do
    state=$(sql "SELECT state FROM jobs WHERE id = $job")
    [ "$state" = "done" ] && return 0
    sleep 0.2
  done
  "$BIN/assay" status "$job" >&2 || true
  fail "job $job not done after ${secs}s (state $state)"
}
