#!/usr/bin/env bash
# protocol_mix: two Python workers (tests/protocol/pyworker.py, written from
# common/PROTOCOL.md alone) and two real assay-workers share a noop job, with an
# active and a standby broker, through:
#   - kill -9 of the active broker (the standby takes over; a new standby starts),
#   - a Python worker frozen (SIGSTOP) past the liveness window, then SIGCONT: the
#     broker declared it dead and re-queued its tasks; it notices the silence,
#     reconnects, registers again, and its late reports are ignored or stored once,
#   - a second kill -9 of the active broker,
#   - and all along py2 misbehaves (--misbehave): it never answers 0.2 % of its
#     tasks (the broker's lease, to + lg = 2 s + 30 s, takes them back), answers 2 %
#     twice (the second is stale) and sends a malformed RESULT before 1 %.
# At the end, from SQL: lost = tasks not done + items without a done task,
# duplicated = output rows beyond one per task + items with two done tasks,
# stuck = tasks still pending or leased. Prints `lost=0 duplicated=0 stuck=0`.
# Needs python3-zmq and python3-msgpack (exit 77 without them).
# timeout: 400
set -euo pipefail
. "$(dirname "$0")/../integration/lib.sh"
PY=/usr/bin/python3
if ! $PY -c "import zmq, msgpack" 2>/dev/null; then
  echo "SKIP: python3-zmq and python3-msgpack are needed (ops/deps.sh --test installs them)"
  exit 77
fi
it_setup protocol_mix

N=${MIX_TASKS:-8000}
DELAY_MS=100
export ASSAY_BROKER_HEARTBEAT_MS=500 ASSAY_BROKER_LIVENESS=4
export ASSAY_BROKER_RETRY_BASE_MS=200 ASSAY_BROKER_RETRY_MAX_MS=2000
LIVE_S=2 # 4 x 500 ms

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"m%d\",\"question\":\"q %d\"}\n", i, i }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<JSON
{"name": "mix", "stages": [{"name": "echo", "kind": "noop", "max_attempts": 20,
 "timeout_s": 2, "params": {"echo": true, "delay_ms": $DELAY_MS}}]}
JSON

PORT=$(free_port)
export ASSAY_BROKER="tcp://127.0.0.1:$PORT"
NBROKERS=0
BPIDS=()
spawn_broker() {
  NBROKERS=$((NBROKERS + 1))
  "$BIN/assay-broker" --bind "$ASSAY_BROKER" >>"$IT_TMP/broker-$NBROKERS.log" 2>&1 &
  BPIDS[$NBROKERS]=$!
  IT_PIDS+=("$!")
}
ACTIVE=""
find_active() {
  local i n=0
  ACTIVE=""
  for i in "${!BPIDS[@]}"; do
    kill -0 "${BPIDS[$i]}" 2>/dev/null || continue
    if grep -q "listening on" "$IT_TMP/broker-$i.log"; then ACTIVE=$i; n=$((n + 1)); fi
  done
  [ $n -le 1 ] || fail "$n brokers active at once"
  [ -n "$ACTIVE" ]
}
wait_active() {
  local k
  for k in $(seq 1 150); do
    find_active && return 0
    sleep 0.1
  done
  fail "no broker became active within 15 s"
}
kill_active() {
  wait_active
  kill -9 "${BPIDS[$ACTIVE]}"
  wait "${BPIDS[$ACTIVE]}" 2>/dev/null || true
  it_log "kill -9 active broker $ACTIVE ($(done_count) done)"
  wait_active
  it_log "broker $ACTIVE took over"
  spawn_broker
}

spawn_broker
wait_active
spawn_broker
PYPIDS=()
for k in 1 2; do
  extra=()
  [ "$k" -eq 2 ] && extra=(--misbehave drop=0.002,dup=0.02,garbage=0.01 --seed 7)
  $PY "$IT_ROOT/tests/protocol/pyworker.py" --broker "$ASSAY_BROKER" --name "py$k" \
    --slots noop=12 --hb 500 "${extra[@]}" >>"$IT_TMP/pyworker-$k.log" 2>&1 &
  PYPIDS[$k]=$!
  IT_PIDS+=("$!")
done
start_worker c1 noop=12
start_worker c2 noop=12

out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
it_log "submitted job $job with $N tasks"
done_count() { sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'" 2>/dev/null || echo "?"; }
py_count() { sql "SELECT count(*) FROM task_outputs WHERE job_id = $job AND worker = '$1'" 2>/dev/null || echo 0; }
running() { [ "$(sql "SELECT state FROM jobs WHERE id = $job" 2>/dev/null || echo "?")" != done ]; }

START=$(date +%s)
# 1. the active broker dies once the Python workers are busy
for i in $(seq 1 300); do [ "$(py_count py1)" -ge 50 ] && break; sleep 0.1; done
kill_active
# 2. py1 frozen past the liveness window
for i in $(seq 1 300); do [ "$(py_count py1)" -ge 200 ] && break; sleep 0.1; done
before_freeze=$(py_count py1)
kill -STOP "${PYPIDS[1]}"
it_log "py1 frozen after $before_freeze tasks ($(done_count) done)"
# frozen past the liveness window: until the broker declares it dead
for i in $(seq 1 300); do
  grep -q "worker py1 removed (heartbeat missed)" "$IT_TMP"/broker-*.log && break
  sleep 0.1
done
grep -q "worker py1 removed (heartbeat missed)" "$IT_TMP"/broker-*.log ||
  fail "the broker did not declare the frozen worker dead within 30 s (liveness ${LIVE_S} s)"
sleep 1 # and a little longer, so its heartbeats are late on its side too
kill -CONT "${PYPIDS[1]}"
it_log "py1 thawed ($(done_count) done)"
# it reconnects and works again
for i in $(seq 1 300); do [ "$(py_count py1)" -gt "$before_freeze" ] && break; sleep 0.1; done
after=$(py_count py1)
[ "$after" -gt "$before_freeze" ] || fail "py1 did no task after SIGCONT"
# 3. the active broker dies again
kill_active
running || fail "job finished before every fault happened: make it longer"
faults_s=$(($(date +%s) - START))

for i in $(seq 1 3000); do running || break; sleep 0.1; done
stuck=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state IN ('pending', 'leased')")
running && fail "job $job not done 300 s after the faults ($(done_count) of $N done, stuck=$stuck)"
elapsed=$(($(date +%s) - START))

tasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job")
lost=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'")
items_lost=$(sql "SELECT count(*) FROM job_items ji WHERE ji.job_id = $job AND NOT EXISTS
                  (SELECT 1 FROM tasks t WHERE t.job_id = ji.job_id AND t.item_id = ji.item_id
                   AND t.state = 'done')")
no_output=$(sql "SELECT count(*) FROM tasks t WHERE t.job_id = $job AND t.state = 'done'
                 AND NOT EXISTS (SELECT 1 FROM task_outputs o WHERE o.task_id = t.id)")
dup_outputs=$(sql "SELECT count(*) - count(DISTINCT task_id) FROM task_outputs WHERE job_id = $job")
dup_items=$(sql "SELECT count(*) FROM (SELECT item_id FROM tasks WHERE job_id = $job AND state = 'done'
                 GROUP BY item_id HAVING count(*) > 1) d")
lost=$((lost + items_lost + no_output + (N - tasks > 0 ? N - tasks : 0)))
duplicated=$((dup_outputs + dup_items + (tasks - N > 0 ? tasks - N : 0)))
by=$(sql "SELECT string_agg(worker || '=' || n, ' ' ORDER BY worker) FROM
          (SELECT worker, count(*) n FROM task_outputs WHERE job_id = $job GROUP BY worker) w")
for k in 1 2; do kill -0 "${PYPIDS[$k]}" 2>/dev/null || fail "Python worker py$k died"; done
# py2's own account of its misbehaviour, and what the brokers made of it
kill -TERM "${PYPIDS[2]}"
wait "${PYPIDS[2]}" || fail "py2 exited $? after SIGTERM"
stats=$(sed -n 's/.*stopping: //p' "$IT_TMP/pyworker-2.log" | tail -n 1)
expired=$(cat "$IT_TMP"/broker-*.log | sed -n 's/.* \([0-9]*\) attempts outlived their lease.*/\1/p' |
          awk '{s += $1} END {print s + 0}')
malformed=$(grep -c "rejected (malformed)" "$IT_TMP"/broker-*.log | awk -F: '{s += $2} END {print s + 0}')
echo "py2: $stats; broker: $expired attempts expired by lease, malformed warnings in $malformed log lines"
echo "tasks=$tasks outputs_by_worker: $by"
echo "brokers_started=$NBROKERS faults_within=${faults_s}s elapsed=${elapsed}s"
echo "lost=$lost duplicated=$duplicated stuck=$stuck"
[ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] && [ "$stuck" -eq 0 ] ||
  fail "lost=$lost duplicated=$duplicated stuck=$stuck"
