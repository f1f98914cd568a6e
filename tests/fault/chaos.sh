#!/usr/bin/env bash
# chaos: the scheduling core never loses or duplicates work while processes die.
# 20,000 noop tasks (echo on, so every task has an output row, and a delay so
# tasks are in flight) run on an active broker, a standby broker and 4 workers,
# against a Postgres cluster of the test's own. Meanwhile: kill -9 a random worker
# again and again (and start a new one), kill -9 the active broker three times
# (the standby takes over; a new standby is started), restart Postgres once while
# the active broker is frozen (a standby takes over, the old one steps down).
# At the end, from SQL: lost = tasks not done, duplicated = output rows beyond one
# per task + items with more than one done task. Prints `lost=0 duplicated=0`.
# timeout: 600
set -euo pipefail
T0=$(date +%s)
. "$(dirname "$0")/../integration/lib.sh"
# Postgres is restarted during the test: never the shared cluster
unset PGHOST PGPORT
it_setup chaos

N=${CHAOS_TASKS:-20000}
DELAY_MS=${CHAOS_DELAY_MS:-100}
NWORKERS=4
SLOTS=12
# quick failure detection keeps the run short: a worker or broker that is silent
# for 4 x 500 ms is dead
export ASSAY_BROKER_HEARTBEAT_MS=500 ASSAY_BROKER_LIVENESS=4
export ASSAY_BROKER_RETRY_BASE_MS=200 ASSAY_BROKER_RETRY_MAX_MS=2000

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"c%d\",\"question\":\"问题 %d\"}\n", i, i }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<JSON
{"name": "chaos", "stages": [{"name": "echo", "kind": "noop", "max_attempts": 20,
 "timeout_s": 30, "params": {"echo": true, "delay_ms": $DELAY_MS}}]}
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

# the active broker is the live one that holds the lock, i.e. that listens (any
# standby may win the lock, the old one or the one started last)
ACTIVE=""
find_active() {
  local i n=0 k
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

WPIDS=()
WSEQ=0
spawn_worker() {
  local slot=$1
  WSEQ=$((WSEQ + 1))
  "$BIN/assay-worker" --broker "$ASSAY_BROKER" --name "w$WSEQ" --slots "noop=$SLOTS" \
    >>"$IT_TMP/worker-w$WSEQ.log" 2>&1 &
  WPIDS[$slot]=$!
  IT_PIDS+=("$!")
}

spawn_broker
wait_active
spawn_broker
for s in $(seq 0 $((NWORKERS - 1))); do spawn_worker "$s"; done

out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
it_log "submitted job $job with $N tasks"

done_count() { sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'" 2>/dev/null || echo "?"; }

# the schedule, in seconds from the submit: a worker dies every ~2 s all along; the
# broker dies at 6, 22 and 38; Postgres restarts at 14. Every event must happen
# while the job still runs, or the test proves nothing.
KILL_BROKER_AT=(5 15 25)
PG_RESTART_AT=10
broker_kills=0
worker_kills=0
pg_restarts=0
START=$(date +%s)
next_worker_kill=$((START + 2))
while :; do
  now=$(date +%s)
  t=$((now - START))
  [ $t -lt 240 ] || fail "job $job not done after 240 s ($(done_count) of $N done)"
  if [ $broker_kills -lt ${#KILL_BROKER_AT[@]} ] && [ $t -ge "${KILL_BROKER_AT[$broker_kills]}" ]; then
    wait_active
    kill -9 "${BPIDS[$ACTIVE]}"
    wait "${BPIDS[$ACTIVE]}" 2>/dev/null || true
    broker_kills=$((broker_kills + 1))
    it_log "kill -9 active broker $ACTIVE ($(done_count) done)"
    wait_active
    it_log "broker $ACTIVE took over"
    spawn_broker
  fi
  if [ $pg_restarts -eq 0 ] && [ $t -ge $PG_RESTART_AT ]; then
    # the active broker is frozen meanwhile, so it loses its session (and the lock)
    # without noticing: a standby must take over, and the old one step down when it
    # wakes up, instead of both running or neither
    wait_active
    old=$ACTIVE
    kill -STOP "${BPIDS[$old]}"
    it_log "restarting Postgres (immediate), broker $old frozen ($(done_count) done)"
    pg_as "$(pg_bindir)/pg_ctl" -D "$IT_OWN_PG" -m immediate -w -t 60 restart >/dev/null ||
      fail "could not restart Postgres"
    pg_restarts=1
    for k in $(seq 1 150); do
      [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted" 2>/dev/null)" = 1 ] && break
      sleep 0.1
    done
    kill -CONT "${BPIDS[$old]}"
    for k in $(seq 1 100); do
      kill -0 "${BPIDS[$old]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "${BPIDS[$old]}" 2>/dev/null && fail "broker $old still runs after losing the lock"
    wait "${BPIDS[$old]}" 2>/dev/null || true
    grep -q "lost the active-broker lock" "$IT_TMP/broker-$old.log" ||
      fail "broker $old exited without stepping down"
    wait_active
    it_log "broker $ACTIVE took over, broker $old stepped down"
    spawn_broker
  fi
  if [ "$now" -ge $next_worker_kill ]; then
    s=$((RANDOM % NWORKERS))
    kill -9 "${WPIDS[$s]}" 2>/dev/null || true
    wait "${WPIDS[$s]}" 2>/dev/null || true
    worker_kills=$((worker_kills + 1))
    spawn_worker "$s"
    next_worker_kill=$((now + 1 + RANDOM % 3))
  fi
  state=$(sql "SELECT state FROM jobs WHERE id = $job" 2>/dev/null || echo "?")
  if [ "$state" = "done" ]; then
    [ $broker_kills -eq ${#KILL_BROKER_AT[@]} ] && [ $pg_restarts -eq 1 ] ||
      fail "job finished before every fault happened (broker kills $broker_kills, Postgres restarts $pg_restarts): make it longer"
    break
  fi
  [ "$state" = "running" ] || [ "$state" = "?" ] || fail "job $job is $state"
  sleep 0.5
done
elapsed=$(($(date +%s) - START))
it_log "job done in ${elapsed}s: $worker_kills worker kills, $broker_kills broker kills, $pg_restarts Postgres restart"

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
max_attempt=$(sql "SELECT max(attempt) FROM tasks WHERE job_id = $job")
retried=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1")
lost=$((lost + items_lost + no_output + (N - tasks > 0 ? N - tasks : 0)))
duplicated=$((dup_outputs + dup_items + (tasks - N > 0 ? tasks - N : 0)))
ignored=0
for f in "$IT_TMP"/broker-*.log; do
  # the last stats line of each broker (a killed broker logs none at the end)
  n=$(grep -o 'ignored=[0-9]*' "$f" | tail -n 1 | cut -d= -f2 || true)
  ignored=$((ignored + ${n:-0}))
done
echo "tasks=$tasks items_without_done=$items_lost done_without_output=$no_output retried=$retried max_attempt=$max_attempt"
echo "worker_kills=$worker_kills broker_kills=$broker_kills pg_restarts=$pg_restarts brokers_started=$NBROKERS workers_started=$WSEQ late_results_ignored=$ignored elapsed=${elapsed}s total=$(($(date +%s) - T0))s"
echo "lost=$lost duplicated=$duplicated"
[ "$tasks" -eq "$N" ] || fail "$tasks tasks for $N items"
[ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] || fail "lost=$lost duplicated=$duplicated"
echo "PASS chaos"
