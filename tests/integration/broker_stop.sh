#!/usr/bin/env bash
# broker_stop: SIGTERM stops the broker gracefully: it exits 0 promptly, hands the
# tasks it claimed but never sent back to pending (attempt not counted), gives the
# tasks running on workers broker.drain_ms to report and writes their results; the
# next broker takes over, and the job ends with every task done exactly once.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup broker_stop

n=60
awk -v n=$n 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"s%d\",\"question\":\"stop %d\"}\n", i, i }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "broker-stop", "stages": [{"name": "s", "kind": "noop", "max_attempts": 3,
 "timeout_s": 30, "params": {"delay_ms": 700}}]}
JSON
start_broker
start_worker w noop=4
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
# the 4 running tasks are leased in Postgres (the broker also holds a queue of
# claimed tasks beyond them, in memory: the log line below counts it). Each runs
# 700 ms and the next one is leased a moment after it starts: look a few times.
leased=0
for i in $(seq 1 100); do
  leased=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'leased'")
  [ "$leased" = 4 ] && break
  sleep 0.05
done
[ "$leased" = 4 ] || fail "expected the 4 running tasks leased, $leased leased"

t0=$(date +%s%N)
kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc -eq 0 ] || fail "broker exited $rc after SIGTERM"
[ $ms -lt 3000 ] || fail "broker took $ms ms to stop"
queued=$(sed -n 's/.*stopping: handing back \([0-9]*\) queued tasks.*/\1/p' "$IT_TMP/broker.log" | tail -n 1)
[ -n "$queued" ] && [ "$queued" -gt 0 ] || fail "the broker handed back no queued tasks"
still=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'leased'")
# the running tasks (700 ms each) finished within the drain time and were written
grep -q "stopping: \([1-4]\) of \1 running tasks finished, 0 left to the next broker" "$IT_TMP/broker.log" ||
  fail "the broker did not let its running tasks finish: $(grep 'running tasks finished' "$IT_TMP/broker.log")"
[ "$still" = 0 ] || fail "$still tasks still leased after the broker stopped (handed back $queued)"
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")" -ge 4 ] ||
  fail "the running tasks' results were not written"
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'pending' AND attempt > 0")" = 0 ] ||
  fail "handed-back tasks had an attempt counted"
echo "broker stopped in ${ms} ms: $queued queued tasks handed back, its running tasks finished"

# the next broker reclaims the running ones; the worker finds it by itself
"$BIN/assay-broker" --bind "$ASSAY_BROKER" >>"$IT_TMP/broker2.log" 2>&1 &
BROKER_PID=$!
IT_PIDS+=("$BROKER_PID")
wait_job "$job" 60
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")" = $n ] || fail "not every task done"
[ "$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job")" = $n ] || fail "expected $n outputs"
grep -q "registered with broker" "$IT_TMP/worker-w.log" || fail "worker did not register"
[ "$(grep -c "registered with broker" "$IT_TMP/worker-w.log")" -ge 2 ] || fail "worker did not register with the new broker"
echo "PASS broker_stop"
