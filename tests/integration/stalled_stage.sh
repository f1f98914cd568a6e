#!/usr/bin/env bash
# stalled_stage: work of a kind that no connected worker serves does not wait in
# silence. A noop -> hack_check job runs on a worker that serves noop only: the
# broker logs, once, `no connected worker serves kind "hack_check" (stage check of
# job J waits)`; a worker for hack_check arrives and the job finishes; that worker
# leaves while another job's hack_check tasks wait, and the warning comes again.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup stalled_stage
export ASSAY_BROKER_HEARTBEAT_MS=250 ASSAY_BROKER_LIVENESS=4

submit() {
  seq 1 "$1" | awk -v s="$2" '{printf "{\"id\":\"%s-%d\",\"question\":\"%s question %d\"}\n", s, $1, s, $1}' >"$IT_TMP/items-$2.jsonl"
  cat >"$IT_TMP/spec-$2.json" <<JSON
{"name": "stall-$2", "stages": [{"name": "first", "kind": "noop", "params": {"echo": true}},
                                {"name": "check", "kind": "hack_check", "params": {}}]}
JSON
  JOB=$("$BIN/assay" submit --spec "$IT_TMP/spec-$2.json" --input "$IT_TMP/items-$2.jsonl" \
    --dataset "$2" --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$JOB" ] || fail "submit failed"
}
warnings() { grep -c "no connected worker serves kind \"hack_check\"" "$IT_TMP/broker.log" || true; }
wait_warnings() {
  local i
  for i in $(seq 1 100); do
    [ "$(warnings)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "expected $1 warnings about hack_check, found $(warnings)"
}

start_broker
start_worker wn noop=2
submit 5 a
A=$JOB
wait_warnings 1
grep -q "no connected worker serves kind \"hack_check\" (stage check of job $A waits)" "$IT_TMP/broker.log" ||
  fail "the warning does not name the stage and job: $(grep 'no connected worker' "$IT_TMP/broker.log")"
# the stall goes on for several checks (one a second here): still one warning
sleep 3.5
[ "$(warnings)" -eq 1 ] || fail "the warning was repeated: $(warnings) times"
grep -q 'warn .*no connected worker serves kind "noop"' "$IT_TMP/broker.log" && fail "a served kind was reported"

start_worker wh hack_check=1 --terms "$IT_ROOT/ops/sample/terms"
WH=$WORKER_PID
wait_job "$A" 60
kill -TERM "$WH"
wait "$WH" 2>/dev/null || true
submit 3 b
wait_warnings 2
grep -q "no connected worker serves kind \"hack_check\" (stage check of job $JOB waits)" "$IT_TMP/broker.log" ||
  fail "the second stall does not name job $JOB"
echo "warnings=$(warnings)"
echo "PASS stalled_stage"
