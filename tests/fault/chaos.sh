#!/usr/bin/env bash
# chaos: the scheduling core never loses or duplicates work, nor any row a task
# writes, while processes die. A three-stage job (generate 4 samples per exam
# question from assay-simllm -> verify each sample -> difficulty filter -> a noop
# stage for the items the filter keeps) runs on an active broker, a standby broker
# and 4 workers, against a Postgres cluster of the test's own. Meanwhile: kill -9
# a random worker again and again (and start a new one), kill -9 the active broker
# three times (the standby takes over; a new standby is started), restart
# Postgres once while the active broker is frozen (a standby takes over, the old
# one steps down). At the end, every row the job wrote is checked from SQL
# (tests/lib/integrity.sh: lost or duplicated tasks, score rows of done verify
# tasks, samples of done generate tasks, filter decisions against their scores).
# Prints `lost=0 duplicated=0 scores_lost=0 samples_lost=0` (and fails otherwise).
# timeout: 600
set -euo pipefail
T0=$(date +%s)
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../lib/integrity.sh"
# Postgres is restarted during the test: never the shared cluster
unset PGHOST PGPORT
it_setup chaos

N=${CHAOS_ITEMS:-3000}
NSAMPLES=4
LATENCY_MS=${CHAOS_LATENCY_MS:-400}
NWORKERS=4
SLOTS="generate=8,verify=2,noop=4"
# quick failure detection keeps the run short: a worker or broker that is silent
# for 4 x 500 ms is dead
export ASSAY_BROKER_HEARTBEAT_MS=500 ASSAY_BROKER_LIVENESS=4
export ASSAY_BROKER_RETRY_BASE_MS=200 ASSAY_BROKER_RETRY_MAX_MS=2000
# workers die here at random, not because of what they run: a task that happens
# to be on two killed workers is no poison input (tests/integration/store_flush.sh
# and poison_task.sh test that detection)
export ASSAY_BROKER_POISON_DEATHS=8
# a new broker gives the tasks of its predecessor 5 s to be reported by their
# workers (the requests take 0.2-0.6 s) before it runs them again
export ASSAY_BROKER_RECOVER_GRACE_MS=5000

start_simllm --mode r1 --latency-ms "$LATENCY_MS" --latency-dist uniform --latency-jitter 0.5 --quiet
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"c%d\",\"question\":\"问题 %d: 哪一项正确?\",\"options\":{\"A\":\"甲\",\"B\":\"乙\",\"C\":\"丙\",\"D\":\"丁\"},\"answer\":\"%s\"}\n", i, i, substr("ABCD", i % 4 + 1, 1) }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<JSON
{"name": "chaos", "stages": [
  {"name": "answer", "kind": "generate", "max_attempts": 20, "timeout_s": 30,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": $NSAMPLES}},
  {"name": "check", "kind": "verify", "max_attempts": 20, "timeout_s": 30, "params": {}},
  {"name": "band", "kind": "filter", "params": {"min_pass_rate": 0.2, "max_pass_rate": 0.8, "threshold": 0.8}},
  {"name": "after", "kind": "noop", "max_attempts": 20, "timeout_s": 30, "params": {"echo": true}}]}
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
  "$BIN/assay-worker" --broker "$ASSAY_BROKER" --name "w$WSEQ" --slots "$SLOTS" \
    --terms "$IT_ROOT/ops/sample/terms" \
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
it_log "submitted job $job with $N items"

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

integrity_check "$job" "$NSAMPLES"
samples=$(sql "SELECT count(*) FROM samples WHERE job_id = $job")
scores=$(sql "SELECT count(*) FROM scores WHERE job_id = $job")
tasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind <> 'filter'")
kept=$(sql "SELECT count(*) FILTER (WHERE kept) || '/' || count(*) FROM item_rounds WHERE job_id = $job")
max_attempt=$(sql "SELECT max(attempt) FROM tasks WHERE job_id = $job")
retried=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt > 1")
poisoned=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND last_error LIKE 'worker died running this task%'")
ignored=0
for f in "$IT_TMP"/broker-*.log; do
  # the last stats line of each broker (a killed broker logs none at the end)
  n=$(grep -o 'ignored=[0-9]*' "$f" | tail -n 1 | cut -d= -f2 || true)
  ignored=$((ignored + ${n:-0}))
done
requests=$(curl -sf "${SIMLLM_URL%/v1}/stats" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
echo "items=$N tasks=$tasks samples=$samples scores=$scores kept=$kept retried=$retried max_attempt=$max_attempt poisoned=$poisoned endpoint_requests=${requests:-?}"
echo "worker_kills=$worker_kills broker_kills=$broker_kills pg_restarts=$pg_restarts brokers_started=$NBROKERS workers_started=$WSEQ late_results_ignored=$ignored elapsed=${elapsed}s total=$(($(date +%s) - T0))s"
echo "lost=$lost duplicated=$duplicated scores_lost=$scores_lost samples_lost=$samples_lost"
[ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] || fail "lost=$lost duplicated=$duplicated"
[ "$scores_lost" -eq 0 ] && [ "$samples_lost" -eq 0 ] || fail "scores_lost=$scores_lost samples_lost=$samples_lost"
[ "$filter_mismatch" -eq 0 ] || fail "$filter_mismatch filter decisions do not match their item's scores"
[ "$samples" -eq $((N * NSAMPLES)) ] || fail "$samples samples for $N items at n=$NSAMPLES"
echo "PASS chaos"
