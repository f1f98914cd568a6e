#!/usr/bin/env bash
# protocol_drain: the Python worker (tests/protocol/pyworker.py, written from
# common/PROTOCOL.md alone) runs a noop job beside a real assay-worker and gets
# SIGTERM mid-job, with tasks running. It drains as §4.7 says: DISCONNECT, declined
# FAILs for TASKs that crossed it, its running tasks finished, a last DISCONNECT,
# exit 0. The job then ends with nothing lost, duplicated or dead, and no task
# needed a second attempt (a declined attempt is not counted).
# Needs python3-zmq and python3-msgpack (exit 77 without them).
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c "import zmq, msgpack" 2>/dev/null; then
  echo "SKIP: python3-zmq and python3-msgpack are needed (ops/deps.sh --test installs them)"
  exit 77
fi
it_setup protocol_drain

N=${DRAIN_TASKS:-1500}
export ASSAY_BROKER_HEARTBEAT_MS=500 ASSAY_BROKER_LIVENESS=4
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"d%d\",\"question\":\"q %d\"}\n", i, i }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "drain", "stages": [{"name": "echo", "kind": "noop", "max_attempts": 2,
 "timeout_s": 30, "params": {"echo": true, "delay_ms": 150}}]}
JSON
start_broker
start_worker c1 noop=8
$PY "$IT_ROOT/tests/protocol/pyworker.py" --broker "$ASSAY_BROKER" --name py1 --slots noop=16 \
  --hb 500 >>"$IT_TMP/pyworker.log" 2>&1 &
PYPID=$!
IT_PIDS+=("$PYPID")

out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"

# SIGTERM once the Python worker has done a share of the work, with more to come
for i in $(seq 1 600); do
  n=$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job AND worker = 'py1'")
  [ "$n" -ge 100 ] && break
  sleep 0.1
done
[ "$n" -ge 100 ] || fail "the Python worker did only $n tasks in 60 s"
left=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'")
total=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job")
it_log "SIGTERM to the Python worker after $n of its tasks ($left of $total tasks written not done yet)"
kill -TERM "$PYPID"
rc=0
for i in $(seq 1 300); do kill -0 "$PYPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PYPID" 2>/dev/null && fail "the Python worker did not exit within 30 s of SIGTERM"
wait "$PYPID" || rc=$?
[ "$rc" -eq 0 ] || fail "the Python worker exited $rc"
grep -q "draining: [1-9][0-9]* tasks still running" "$IT_TMP/pyworker.log" ||
  fail "the Python worker had no task running at SIGTERM: the test proves nothing"
done_n=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")
[ "$done_n" -lt "$N" ] || fail "the job was over before the drain ended: make it longer"

wait_job "$job" 120
tasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job")
dead=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'dead'")
lost=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'")
lost=$((lost + (N - tasks > 0 ? N - tasks : 0)))
dup=$(sql "SELECT count(*) - count(DISTINCT task_id) FROM task_outputs WHERE job_id = $job")
dup=$((dup + (tasks - N > 0 ? tasks - N : 0)))
second=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1")
py=$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job AND worker = 'py1'")
stats=$(sed -n 's/.*stopping: //p' "$IT_TMP/pyworker.log" | tail -n 1)
echo "tasks=$tasks by_python=$py python_stats=$stats second_attempts=$second"
echo "dead=$dead lost=$lost duplicated=$dup"
[ "$dead" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$dup" -eq 0 ] || fail "dead=$dead lost=$lost duplicated=$dup"
[ "$second" -eq 0 ] || fail "$second tasks needed a second attempt: the drain cost attempts"
