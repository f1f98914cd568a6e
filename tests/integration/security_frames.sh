#!/usr/bin/env bash
# security_frames: an authenticated peer floods the broker with garbage and
# oversized frames while a normal job runs, and an unauthenticated one sends raw
# random bytes to its port. Every bad message is counted by
# reason in the broker's /metrics and dropped; the job completes with every item
# stored exactly once; the broker keeps serving. Prints the job's time with and
# without the flood.
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup security_frames
FLOOD=${ASSAY_BUILD:-$IT_ROOT/build}/tests/zmq_flood
[ -x "$FLOOD" ] || fail "zmq_flood not built ($FLOOD)"

mport=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$mport start_broker
start_worker w1 noop=64
n=3000
seq 1 $n | awk '{printf "{\"id\":\"f%d\",\"question\":\"q%d\",\"answer\":\"A\",\"options\":{\"A\":\"x\",\"B\":\"y\"}}\n", $1, $1}' >"$IT_TMP/items.jsonl"
echo '{"name":"frames","stages":[{"name":"echo","kind":"noop","params":{}}]}' >"$IT_TMP/spec.json"
submit() {
  "$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json --name "$1" |
    sed -n 's/.*"job":\([0-9]*\).*/\1/p'
}
t0=$(date +%s%N)
job1=$(submit calm)
wait_job "$job1" 60
calm_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

count=${FLOOD_COUNT:-100000}
"$FLOOD" "$ASSAY_BROKER" "$count" >"$IT_TMP/flood.out" 2>"$IT_TMP/flood.err" &
flood_pid=$!
IT_PIDS+=("$flood_pid")
# and a peer without keys throws raw bytes at the port: its handshakes fail
( for i in 1 2 3 4 5; do
    head -c 200000 /dev/urandom >"/dev/tcp/127.0.0.1/$BROKER_PORT" 2>/dev/null || true
  done ) &
raw_pid=$!
t0=$(date +%s%N)
job2=$(submit flooded)
wait_job "$job2" 120
flood_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$flood_pid" || fail "zmq_flood failed: $(cat "$IT_TMP/flood.err")"
wait "$raw_pid" || true
cat "$IT_TMP/flood.out"

# the broker reads at its own pace: wait until it has seen everything
m() { curl -sf "http://127.0.0.1:$mport/metrics"; }
rejected() { m | awk '/^assay_proto_rejected_total/ {s += $2} END {print s + 0}'; }
total=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' "$IT_TMP/flood.out")
for i in $(seq 1 100); do
  [ "$(rejected)" -ge "$total" ] && break
  sleep 0.2
done
m >"$IT_TMP/metrics.txt"
grep '^assay_proto_rejected_total' "$IT_TMP/metrics.txt"
got() { sed -n "s/^assay_proto_rejected_total{reason=\"$1\"} //p" "$IT_TMP/metrics.txt"; }
want() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$IT_TMP/flood.out"; }
for r in bad_frames bad_tag bad_version bad_command oversized; do
  [ "$(got $r)" = "$(want $r)" ] || fail "reason $r: broker counted $(got $r), flood sent $(want $r)"
done
body=$(( $(got truncated) + $(got malformed) ))
[ "$body" = "$(want body)" ] || fail "bad bodies: broker counted $body, flood sent $(want body)"

done_tasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job2 AND state = 'done'")
outputs=$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job2")
dups=$(sql "SELECT count(*) FROM (SELECT item_id FROM task_outputs WHERE job_id = $job2 GROUP BY item_id HAVING count(*) > 1) d")
echo "flooded job: done=$done_tasks outputs=$outputs dups=$dups; time calm=${calm_ms}ms flooded=${flood_ms}ms"
[ "$done_tasks" = $n ] && [ "$outputs" = $n ] && [ "$dups" = 0 ] || fail "the flooded job lost or doubled work"
kill -0 "$BROKER_PID" || fail "the broker died"
grep -q "registered with broker" "$IT_TMP/worker-w1.log" || fail "worker never registered"
echo "PASS security_frames"
