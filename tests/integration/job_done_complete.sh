#!/usr/bin/env bash
# job_done_complete: a job is marked done only when every one of its results is in
# Postgres. Single-stage generate jobs (results written by the broker's side writer)
# and a generate -> verify job run against assay-simllm at latency 0 with many slots;
# the test polls the job and, in the same snapshot, counts its stored tasks and
# samples: the first snapshot that says "done" must already hold all of them, so an
# export started the moment a job is done misses nothing.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup job_done_complete

ITEMS=1000
/usr/bin/python3 - "$ITEMS" >"$IT_TMP/items.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": "jd_%04d" % i,
                      "question": "第%d题：患者发热、咳嗽%d天，最可能的诊断是" % (i, 1 + i % 9),
                      "options": {"A": "急性上呼吸道感染", "B": "社区获得性肺炎",
                                  "C": "肺结核", "D": "支气管哮喘", "E": "肺癌"},
                      "answer": "ABCDE"[i % 5]}, ensure_ascii=False))
PY
start_simllm --mode r1 --quiet --answer-key "$IT_TMP/items.jsonl"
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_MAX_CONCURRENCY=256
cat >"$IT_TMP/one.json" <<'JSON'
{"name": "one-stage", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 600,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 8}}]}
JSON
cat >"$IT_TMP/two.json" <<'JSON'
{"name": "two-stage", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 600,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 8}},
  {"name": "check", "kind": "verify", "timeout_s": 60}]}
JSON
start_broker
start_worker w1 generate=256,verify=4 --terms "$IT_ROOT/ops/sample/terms"

# check_job SPEC TASKS SAMPLES: submit, then watch for the first snapshot that says done
check_job() {
  local spec=$1 want_tasks=$2 want_samples=$3 job row i
  job=$("$BIN/assay" submit --spec "$spec" --input "$IT_TMP/items.jsonl" --dataset "d_$(basename "$spec" .json)" --json |
        sed -n 's/.*"job":\([0-9]*\).*/\1/p')
  [ -n "$job" ] || fail "submit failed"
  for i in $(seq 1 1200); do
    row=$(sql "SELECT j.state,
                      (SELECT count(*) FROM tasks t WHERE t.job_id = j.id AND t.state = 'done'),
                      (SELECT count(*) FROM samples s WHERE s.job_id = j.id)
                 FROM jobs j WHERE j.id = $job")
    case "$row" in done\|*) break ;; esac
    sleep 0.05
  done
  it_log "job $job ($(basename "$spec")) at its first done snapshot: $row (want done|$want_tasks|$want_samples)"
  [ "$row" = "done|$want_tasks|$want_samples" ] ||
    fail "job $job said done before its results were stored: state|tasks|samples = $row, want done|$want_tasks|$want_samples"
}
for round in 1 2 3; do
  check_job "$IT_TMP/one.json" "$ITEMS" $((ITEMS * 8))
done
check_job "$IT_TMP/two.json" $((ITEMS + ITEMS * 8)) $((ITEMS * 8))
echo "PASS job_done_complete"
