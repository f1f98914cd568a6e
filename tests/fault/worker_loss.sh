#!/usr/bin/env bash
# worker_loss: what happens to work when a worker dies, goes silent or stops.
#   1. kill -9 mid-task: its tasks go to another worker after the liveness timeout
#   2. SIGSTOP (silent): declared dead, tasks re-leased; after SIGCONT its late
#      results are ignored (and counted), it registers again and takes new work
#   3. SIGTERM: finishes running tasks, takes no new ones, exits 0 promptly; also
#      with the broker gone, and while it waits to reconnect
#   4. a task that keeps failing retryably ends dead after max_attempts with its
#      last error; `assay retry JOB` brings it back
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/../integration/lib.sh"
it_setup worker_loss

# a worker silent for 4 x 250 ms is dead; retries wait 100-400 ms
export ASSAY_BROKER_HEARTBEAT_MS=250 ASSAY_BROKER_LIVENESS=4
export ASSAY_BROKER_RETRY_BASE_MS=100 ASSAY_BROKER_RETRY_MAX_MS=400

# submit NAME COUNT PARAMS [MAX_ATTEMPTS]: a noop job over COUNT new items; sets JOB
SEQ=0
submit() {
  local name=$1 count=$2 params=$3 attempts=${4:-10} out
  SEQ=$((SEQ + 1))
  awk -v n="$count" -v s="$SEQ" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"%s-%d\",\"question\":\"q %s-%d\"}\n", s, i, s, i }' \
    >"$IT_TMP/items-$SEQ.jsonl"
  printf '{"name": "%s", "stages": [{"name": "s", "kind": "noop", "max_attempts": %d, "timeout_s": 60, "params": %s}]}\n' \
    "$name" "$attempts" "$params" >"$IT_TMP/spec-$SEQ.json"
  out=$("$BIN/assay" submit --spec "$IT_TMP/spec-$SEQ.json" --input "$IT_TMP/items-$SEQ.jsonl" \
    --dataset "d$SEQ" --json) || fail "submit failed"
  JOB=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$JOB" ] || fail "no job id in: $out"
}

# wait_sql SQL EXPECTED SECONDS
wait_sql() {
  local i v=""
  for i in $(seq 1 $(($3 * 10))); do
    v=$(sql "$1")
    [ "$v" = "$2" ] && return 0
    sleep 0.1
  done
  fail "waited $3 s for [$1] = $2, got $v"
}

wait_log() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "${4:-1}" ] && return 0
    sleep 0.1
  done
  fail "waited $3 s for \"$2\" in $(basename "$1")"
}

# stop_timed PID SIGNAL: send it and wait for the exit; sets RC and SECS
stop_timed() {
  local t0 t1
  t0=$(date +%s%N)
  kill -"$2" "$1"
  RC=0
  wait "$1" || RC=$?
  t1=$(date +%s%N)
  SECS=$(((t1 - t0) / 1000000))
  SECS=$((SECS / 1000)).$(printf '%03d' $((SECS % 1000)))
}

start_broker

it_log "1. kill -9 a worker mid-task"
start_worker a noop=50
A=$WORKER_PID
wait_log "$IT_TMP/worker-a.log" "registered with broker" 10
submit kill9 20 '{"delay_ms": 3000}'
wait_sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND state = 'leased'" 20 10
sleep 0.5
start_worker b noop=50
B=$WORKER_PID
wait_log "$IT_TMP/worker-b.log" "registered with broker" 10
kill -9 "$A"
wait "$A" 2>/dev/null || true
wait_log "$IT_TMP/broker.log" "worker a removed (heartbeat missed): 20 tasks back" 5
wait_job "$JOB" 20
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND worker = 'b' AND attempt = 2")" = 20 ] ||
  fail "the killed worker's tasks were not re-run once by worker b: $(sql "SELECT worker, attempt, count(*) FROM tasks WHERE job_id = $JOB GROUP BY 1, 2")"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $JOB")" = 20 ] || fail "expected 20 outputs"
it_log "   20 tasks re-leased to b after the liveness timeout"

it_log "2. SIGSTOP a worker mid-task, SIGCONT it later"
start_worker c noop=50
C=$WORKER_PID
wait_log "$IT_TMP/worker-c.log" "registered with broker" 10
stop_timed "$B" TERM
[ "$RC" = 0 ] || fail "worker b exited $RC"
wait_log "$IT_TMP/broker.log" "worker b removed" 5
submit silent 15 '{"delay_ms": 1500}'
wait_sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND state = 'leased'" 15 10
kill -STOP "$C"
start_worker d noop=50
D=$WORKER_PID
wait_log "$IT_TMP/broker.log" "worker c removed (heartbeat missed): 15 tasks back" 5
wait_job "$JOB" 20
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND worker = 'd' AND attempt = 2")" = 15 ] ||
  fail "the silent worker's tasks were not re-run by worker d"
# worker d leaves; c wakes up with 15 stale results, which the broker must ignore
stop_timed "$D" TERM
[ "$RC" = 0 ] || fail "worker d exited $RC"
kill -CONT "$C"
wait_log "$IT_TMP/worker-c.log" "registered with broker" 15 2
submit after_silence 10 '{}'
wait_job "$JOB" 20
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND worker = 'c'")" = 10 ] ||
  fail "worker c did not take work again after SIGCONT"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $((JOB - 1))")" = 15 ] ||
  fail "late results changed the stored outputs"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $((JOB - 1)) AND worker <> 'd'")" = 0 ] ||
  fail "a late result of the silent worker was stored"
it_log "   declared dead, tasks re-run by d; after SIGCONT c registered again and took new work"

it_log "3. SIGTERM drains"
submit drain 10 '{"delay_ms": 1500}'
wait_sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND state = 'leased'" 10 10
sleep 0.3
start_worker e noop=50
E=$WORKER_PID
wait_log "$IT_TMP/worker-e.log" "registered with broker" 10
stop_timed "$C" TERM
[ "$RC" = 0 ] || fail "worker c exited $RC after SIGTERM"
it_log "   worker c drained and exited 0 in ${SECS}s"
[ "${SECS%%.*}" -lt 4 ] || fail "worker c took ${SECS}s to drain 1.5 s tasks"
wait_job "$JOB" 10
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND worker = 'c' AND attempt = 1")" = 10 ] ||
  fail "the draining worker did not finish its own tasks: $(sql "SELECT worker, attempt, count(*) FROM tasks WHERE job_id = $JOB GROUP BY 1, 2")"
grep -q "worker c is draining" "$IT_TMP/broker.log" || fail "the broker was not told c is draining"

# with the broker gone (the worker is about to reconnect): tasks in flight still
# finish, without the worker spinning meanwhile, then it exits
submit drain_no_broker 10 '{"delay_ms": 4000}'
wait_sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND state = 'leased'" 10 10
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
wait_log "$IT_TMP/worker-e.log" "reconnecting in 250 ms" 5
kill -TERM "$E"
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
c0=$(cpu "$E")
sleep 1
c1=$(cpu "$E")
[ $((c1 - c0)) -lt 30 ] || fail "worker e used $((c1 - c0)) clock ticks in 1 s while draining"
stop_timed "$E" TERM
[ "$RC" = 0 ] || fail "worker e exited $RC after SIGTERM with the broker gone"
grep -q "stopping: 10 done" "$IT_TMP/worker-e.log" || fail "worker e did not finish its 10 tasks"
it_log "   worker e, broker gone: finished its tasks and exited 0 in ${SECS}s"
[ "${SECS%%.*}" -lt 4 ] || fail "worker e took ${SECS}s to exit"

# a worker waiting to reconnect (the broker has been gone a while) stops at once
ASSAY_WORKER_HEARTBEAT_MS=200 start_worker f noop=5
F=$WORKER_PID
wait_log "$IT_TMP/worker-f.log" "reconnecting in 500 ms" 15
sleep 1.2
stop_timed "$F" TERM
[ "$RC" = 0 ] || fail "worker f exited $RC"
it_log "   worker f, reconnecting: exited 0 in ${SECS}s"
[ "${SECS%%.*}" -lt 2 ] || fail "worker f took ${SECS}s to exit"

it_log "4. a task that keeps failing ends dead; assay retry brings it back"
start_broker
start_worker g noop=10
G=$WORKER_PID
wait_log "$IT_TMP/worker-g.log" "registered with broker" 10
submit failing 1 '{"fail": "simulated outage"}' 3
wait_job "$JOB" 20
row=$(sql "SELECT state || '|' || attempt || '|' || last_error FROM tasks WHERE job_id = $JOB")
[ "$row" = "dead|3|simulated outage" ] || fail "expected dead|3|simulated outage, got $row"
fin=$(sql "SELECT finished_at FROM tasks WHERE job_id = $JOB")
out=$("$BIN/assay" retry "$JOB")
grep -q "1 dead tasks back to pending" <<<"$out" || fail "assay retry did not bring the task back: $out"
[ "$(sql "SELECT state FROM jobs WHERE id = $JOB")" = running ] || fail "retry did not restart the job"
wait_job "$JOB" 20
row=$(sql "SELECT state || '|' || attempt || '|' || last_error || '|' || (finished_at > '$fin')::int FROM tasks WHERE job_id = $JOB")
[ "$row" = "dead|3|simulated outage|1" ] || fail "after retry expected three new attempts, got $row"
it_log "   dead after 3 attempts with its last error; retried, ran 3 more times"

it_log "5. late results after a re-lease are ignored and counted"
# worker h takes the tasks, goes silent, they are re-leased to i and done; h's
# results arrive late
start_worker h noop=50
H=$WORKER_PID
wait_log "$IT_TMP/worker-h.log" "registered with broker" 10
stop_timed "$G" TERM
[ "$RC" = 0 ] || fail "worker g exited $RC"
submit late 12 '{"delay_ms": 1000}'
wait_sql "SELECT count(*) FROM tasks WHERE job_id = $JOB AND state = 'leased'" 12 10
kill -STOP "$H"
start_worker i noop=50
I=$WORKER_PID
wait_job "$JOB" 20
kill -CONT "$H"
wait_log "$IT_TMP/worker-h.log" "registered with broker" 15 2
stop_timed "$BROKER_PID" TERM
[ "$RC" = 0 ] || fail "broker exited $RC after SIGTERM"
ignored=$(grep -o 'stopped: .*ignored=[0-9]*' "$IT_TMP/broker.log" | tail -n 1 | sed 's/.*ignored=//')
echo "late results ignored by the broker: $ignored"
[ "${ignored:-0}" -ge 12 ] || fail "expected at least 12 late results counted as ignored, got ${ignored:-none}"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $JOB AND worker = 'i'")" = 12 ] ||
  fail "the late results replaced the stored ones"
echo "PASS worker_loss"
