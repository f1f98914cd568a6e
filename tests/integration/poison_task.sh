#!/usr/bin/env bash
# poison_task: a task whose workers keep dying while they run it is marked dead
# ("worker died running this task (possible poison input)") after two deaths,
# instead of being handed to the next worker until none is left.
#   1. a long task; the worker holding it is killed (kill -9), twice: the task is
#      dead with that reason, in `assay retry --list` and report_failures, and the
#      next worker never gets it; other tasks run on
#   2. a worker that drains (SIGTERM) hands the task back, twice: no death counted
#   3. the broker is killed (kill -9) while the task runs, twice: no death counted
#   4. `assay retry` gives a poison task its two deaths again
# timeout: 240
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup poison_task

# a worker silent for 4 x 250 ms is dead; retries wait 100-400 ms
export ASSAY_BROKER_HEARTBEAT_MS=250 ASSAY_BROKER_LIVENESS=4
export ASSAY_BROKER_RETRY_BASE_MS=100 ASSAY_BROKER_RETRY_MAX_MS=400
export ASSAY_WORKER_DRAIN_S=0
# a new broker runs its predecessor's tasks again at once (phase 3)
export ASSAY_BROKER_RECOVER_GRACE_MS=0

SEQ=0
# submit NAME COUNT DELAY_MS: a noop job; sets JOB
submit() {
  SEQ=$((SEQ + 1))
  awk -v n="$2" -v s="$SEQ" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"%s-%d\",\"question\":\"q %s-%d\"}\n", s, i, s, i }' \
    >"$IT_TMP/items-$SEQ.jsonl"
  printf '{"name": "%s", "stages": [{"name": "s", "kind": "noop", "max_attempts": 10, "timeout_s": 120, "params": {"echo": true, "delay_ms": %d}}]}\n' \
    "$1" "$3" >"$IT_TMP/spec-$SEQ.json"
  JOB=$("$BIN/assay" submit --spec "$IT_TMP/spec-$SEQ.json" --input "$IT_TMP/items-$SEQ.jsonl" \
    --dataset "d$SEQ" --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$JOB" ] || fail "submit failed"
}
# until the SQL value is the expected one (30 s at most)
wait_for() {
  local want=$1 query=$2 i got=""
  for i in $(seq 1 300); do
    got=$(sql "$query" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "waited for \"$want\" from: $query (last: \"$got\")"
}
task() { sql "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $1"; }

start_broker

# ---- 1. two workers die holding the task
submit poison 1 60000
P=$JOB
start_worker w1 noop=1
W1=$WORKER_PID
wait_for "leased 1 0" "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $P"
kill -9 "$W1"
wait_for "pending 1 1" "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $P"
it_log "w1 died holding the task: $(task $P)"
start_worker w2 noop=1
W2=$WORKER_PID
wait_for "leased 2 1" "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $P"
kill -9 "$W2"
wait_for "dead 2 2" "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $P"
err=$(sql "SELECT last_error FROM tasks WHERE job_id = $P")
it_log "w2 died holding the task: $(task $P): $err"
case "$err" in
  "worker died running this task (possible poison input)"*) ;;
  *) fail "dead with the wrong reason: $err" ;;
esac
grep -q "possible poison input" "$IT_TMP/broker.log" || fail "the broker did not log the poison task"
"$BIN/assay" retry "$P" --list >"$IT_TMP/list.out" 2>&1 || fail "assay retry --list failed"
grep -q "possible poison input" "$IT_TMP/list.out" || fail "assay retry --list does not show it: $(cat "$IT_TMP/list.out")"
[ "$(sql "SELECT reason || ' ' || dead FROM report_failures WHERE job_id = $P")" = \
  "worker died running this task (possible poison input) 1" ] || fail "report_failures does not show it"

# the next worker runs other work and never gets the poison task
start_worker w3 noop=2
W3=$WORKER_PID
submit others 20 0
wait_job "$JOB" 60
[ "$(task $P)" = "dead 2 2" ] || fail "the poison task changed: $(task $P)"
[ "$(sql "SELECT worker FROM tasks WHERE job_id = $P")" = w2 ] || fail "the poison task ran again"
kill -TERM "$W3"
wait "$W3" 2>/dev/null || true

# ---- 2. draining workers hand the task back: no death. A generate task waiting
# for a slow endpoint (a noop's delay would just end early on a drain)
start_simllm --mode r1 --latency-ms 120000 --quiet
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 ASSAY_ENDPOINT_SIM_STYLE=r1
echo '{"id": "slow", "question": "Which option?", "options": {"A": "one", "B": "two"}, "answer": "A"}' \
  >"$IT_TMP/slow.jsonl"
echo '{"name": "slow", "stages": [{"name": "answer", "kind": "generate", "max_attempts": 10, "timeout_s": 300, "params": {"endpoint": "sim", "template": "answer_mcq", "n": 1}}]}' \
  >"$IT_TMP/slow.json"
D=$("$BIN/assay" submit --spec "$IT_TMP/slow.json" --input "$IT_TMP/slow.jsonl" --dataset slow --json |
    sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$D" ] || fail "submit failed"
for w in w4 w5; do
  start_worker "$w" generate=1
  wait_for "leased" "SELECT state FROM tasks WHERE job_id = $D"
  kill -TERM "$WORKER_PID"
  wait "$WORKER_PID" 2>/dev/null || true
  wait_for "pending" "SELECT state FROM tasks WHERE job_id = $D"
  it_log "$w drained and handed the task back: $(task $D)"
done
[ "$(sql "SELECT worker_deaths FROM tasks WHERE job_id = $D")" = 0 ] || fail "a drain counted as a death: $(task $D)"

# ---- 3. the broker dies while the task runs: no death. The worker goes on running
# the old attempt (the endpoint takes 120 s), so it gets three slots: one for each
# attempt a new broker hands out (with one slot it would decline the new attempt,
# handed back uncounted, and no new attempt would ever be leased)
start_worker w6 generate=3
for k in 1 2; do
  wait_for "leased" "SELECT state FROM tasks WHERE job_id = $D"
  a=$(sql "SELECT attempt FROM tasks WHERE job_id = $D")
  kill -9 "$BROKER_PID"
  wait "$BROKER_PID" 2>/dev/null || true
  restart_broker
  # the new broker hands the recovered task out again (a new attempt)
  wait_for "leased $((a + 1))" "SELECT state || ' ' || attempt FROM tasks WHERE job_id = $D"
  it_log "broker restart $k: $(task $D)"
done
[ "$(sql "SELECT state || ' ' || worker_deaths FROM tasks WHERE job_id = $D")" = "leased 0" ] ||
  fail "a broker restart counted as a death: $(task $D)"
"$BIN/assay" cancel "$D" >/dev/null

# ---- 4. an operator's retry starts the count again
"$BIN/assay" retry "$P" >/dev/null || fail "assay retry failed"
start_worker w7 noop=1
W7=$WORKER_PID
wait_for "leased 1" "SELECT state || ' ' || attempt FROM tasks WHERE job_id = $P"
kill -9 "$W7"
wait_for "pending 1 1" "SELECT state || ' ' || attempt || ' ' || worker_deaths FROM tasks WHERE job_id = $P"
it_log "after a retry one death is not yet poison: $(task $P)"
echo "PASS poison_task"
