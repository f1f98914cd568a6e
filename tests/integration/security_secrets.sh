#!/usr/bin/env bash
# security_secrets: API keys never leak. Endpoint "sim" has the right key, "bad" a
# wrong one that assay-simllm echoes back in its 401 error (as real APIs do). A
# full generate job runs through "sim", another fails through "bad"; then the
# logs (text and JSON, debug level), a pg_dump of the database, /metrics and
# every captured output and error of the CLI are searched for both keys.
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup security_secrets

SIM_API_KEY="sk-live-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BAD_API_KEY="sk-wrong-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SIM_API_KEY BAD_API_KEY
start_simllm --mode r1 --latency-ms 5 --api-key-env SIM_API_KEY
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_API_KEY_ENV=SIM_API_KEY
export ASSAY_ENDPOINT_BAD_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_BAD_MODEL=sim-r1 \
       ASSAY_ENDPOINT_BAD_STYLE=r1 ASSAY_ENDPOINT_BAD_API_KEY_ENV=BAD_API_KEY
spec() {
  cat <<JSON
{"name": "$1", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 30, "max_attempts": 2,
   "params": {"endpoint": "$1", "template": "answer_mcq", "n": 1, "max_attempts": 1}}]}
JSON
}
spec sim >"$IT_TMP/sim.json"
spec bad >"$IT_TMP/bad.json"
mport=$(free_port) wport=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$mport start_broker --log-level debug
ASSAY_WORKER_METRICS=127.0.0.1:$wport start_worker w1 generate=8 --log-level debug
ASSAY_LOG_FORMAT=json start_worker w2 generate=8 --log-level debug
items="$IT_ROOT/ops/sample/exam_mcq.jsonl"
cli() { # name, args...: run the CLI, keep its output and errors
  local name=$1; shift
  "$BIN/assay" --log-level debug "$@" >"$IT_TMP/cli-$name.out" 2>"$IT_TMP/cli-$name.err"
}
cli submit-sim submit --spec "$IT_TMP/sim.json" --input "$items" --json || fail "submit failed"
cli submit-bad submit --spec "$IT_TMP/bad.json" --input "$items" --json || fail "submit failed"
good=$(sed -n 's/.*"job":\([0-9]*\).*/\1/p' "$IT_TMP/cli-submit-sim.out")
bad=$(sed -n 's/.*"job":\([0-9]*\).*/\1/p' "$IT_TMP/cli-submit-bad.out")
wait_job "$good" 120
wait_job "$bad" 120
done_good=$(sql "SELECT count(*) FROM tasks WHERE job_id = $good AND state = 'done'")
dead_bad=$(sql "SELECT count(*) FROM tasks WHERE job_id = $bad AND state = 'dead'")
echo "good job: $done_good done; bad job: $dead_bad dead"
[ "$done_good" -gt 0 ] && [ "$dead_bad" -gt 0 ] || fail "expected a done job and a failed one"
sql "SELECT last_error FROM tasks WHERE job_id = $bad AND last_error IS NOT NULL LIMIT 1"
cli status status "$good" || true
cli status-bad status "$bad" || true
cli dead retry "$bad" --list || true
cli export export "$good" -o "$IT_TMP/export.jsonl" || fail "export failed"
cli jobs jobs || true
curl -sf "http://127.0.0.1:$mport/metrics" >"$IT_TMP/metrics-broker.txt"
curl -sf "http://127.0.0.1:$wport/metrics" >"$IT_TMP/metrics-worker.txt"
kill -TERM "$BROKER_PID" "$WORKER_PID"; sleep 0.5
pg_dump -h "$PGHOST" -p "$PGPORT" -U postgres "$IT_DBNAME" >"$IT_TMP/dump.sql" 2>"$IT_TMP/pg_dump.err" ||
  fail "pg_dump failed: $(cat "$IT_TMP/pg_dump.err")"
grep -q "Incorrect API key provided" "$IT_TMP/dump.sql" "$IT_TMP"/*.log ||
  fail "the 401 error never reached a log or the database: the test would prove nothing"
files=$(find "$IT_TMP" -type f ! -path "$IT_TMP/pg/*" | wc -l)
bytes=$(find "$IT_TMP" -type f ! -path "$IT_TMP/pg/*" -printf '%s\n' | awk '{s += $1} END {print s}')
leaks=0
for k in "$SIM_API_KEY" "$BAD_API_KEY"; do
  rc=0
  grep -rlF --exclude-dir=pg -e "$k" "$IT_TMP" || rc=$?
  [ $rc -le 1 ] || fail "grep failed"
  [ $rc -eq 1 ] || leaks=$((leaks + 1))
done
echo "searched $files files ($bytes bytes) for 2 keys: $leaks found"
[ $leaks -eq 0 ] || fail "an API key leaked into the files above"
echo "PASS security_secrets"
