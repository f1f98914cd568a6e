#!/usr/bin/env bash
# results_ignored: in a run without any fault every result is stored once, so
# assay_broker_results_ignored_total stays 0 for every reason and every task is
# dispatched once. A generate -> verify -> filter -> noop job (the per-sample
# verify tasks are claimed from rows, the case where a task that reported before
# its lease was written used to be claimed and run a second time: issue 13 saw
# 1,308 "ignored" results in a run where every task had attempt 1).
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup results_ignored

N=${IGNORED_ITEMS:-1500}
start_simllm --mode r1 --latency-ms 20 --quiet
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 ASSAY_ENDPOINT_SIM_STYLE=r1
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"r%d\",\"question\":\"Question %d?\",\"options\":{\"A\":\"one\",\"B\":\"two\"},\"answer\":\"A\"}\n", i, i }' \
  >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "clean", "stages": [
  {"name": "answer", "kind": "generate", "params": {"endpoint": "sim", "template": "answer_mcq", "n": 4}},
  {"name": "check", "kind": "verify", "params": {}},
  {"name": "band", "kind": "filter", "params": {"min_pass_rate": 0.2, "max_pass_rate": 0.8}},
  {"name": "after", "kind": "noop", "params": {"echo": true}}]}
JSON
bport=$(free_port)
ASSAY_BROKER_METRICS=127.0.0.1:$bport start_broker
start_worker w1 generate=64,verify=2,noop=16 --terms "$IT_ROOT/ops/sample/terms"
start_worker w2 generate=64,verify=2,noop=16 --terms "$IT_ROOT/ops/sample/terms"
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 150
sleep 0.5 # the metrics are published every 250 ms
curl -sf "http://127.0.0.1:$bport/metrics" >"$IT_TMP/metrics.txt" || fail "could not scrape the broker"
val() { awk -v k="$1" 'index($0, k " ") == 1 {print $2; f = 1} END {if (!f) print "absent"}' "$IT_TMP/metrics.txt"; }
ran=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind <> 'filter'")
retried=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND attempt <> 1 AND kind <> 'filter'")
dispatched=$(val assay_broker_dispatched_total)
line="tasks=$ran retried=$retried dispatched=$dispatched"
total=0
for why in stale_attempt duplicate replayed task_ended unknown_task other; do
  v=$(val "assay_broker_results_ignored_total{reason=\"$why\"}")
  [ "$v" != absent ] || fail "assay_broker_results_ignored_total{reason=\"$why\"} is not published"
  line="$line $why=$v"
  total=$((total + ${v%.*}))
done
echo "$line"
[ "$retried" = 0 ] || fail "$retried tasks ran more than once in a run without faults"
[ "$total" = 0 ] || fail "$total results not stored in a run without faults: $line"
[ "${dispatched%.*}" = "$ran" ] || fail "$dispatched tasks dispatched for $ran tasks: some ran twice"
echo "PASS results_ignored"
