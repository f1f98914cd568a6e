#!/usr/bin/env bash
# filter_dead: a difficulty filter still decides for an item whose scoring tasks all
# end dead (their judge endpoint is down): the item gets its item_rounds row (no
# scored samples, not kept) and a done filter task, and the job ends. Before, the
# filter only looked when a scoring task finished done, and such an item was never
# decided.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup filter_dead

start_simllm --mode r1 --answer-key "$IT_ROOT/ops/sample/simllm_answer_key.jsonl"
down=$(free_port)
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 \
       ASSAY_ENDPOINT_DOWN_BASE_URL="http://127.0.0.1:$down/v1" ASSAY_ENDPOINT_DOWN_MODEL=none \
       ASSAY_ENDPOINT_DOWN_STYLE=r1
head -n 5 "$IT_ROOT/ops/sample/exam_mcq.jsonl" >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "filter-dead", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 60,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": 2, "seed": 3}},
  {"name": "grade", "kind": "judge", "timeout_s": 30, "max_attempts": 1,
   "params": {"judge": "outcome", "endpoint": "down"}},
  {"name": "band", "kind": "filter", "params": {"min_pass_rate": 0.1, "max_pass_rate": 0.9}},
  {"name": "again", "kind": "noop", "params": {}}]}
JSON
start_broker
start_worker w1 generate=4,judge=4,noop=4
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 90

dead=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'judge' AND state = 'dead'")
rounds=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND samples = 0 AND NOT kept")
filters=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'filter' AND state = 'done'")
after=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'noop'")
echo "dead_judge_tasks=$dead undecided_items_decided=$rounds filter_tasks=$filters next_stage_tasks=$after"
[ "$dead" = 10 ] || fail "expected 10 dead judge tasks (5 items x 2 samples), got $dead"
[ "$rounds" = 5 ] || fail "expected an item_rounds row (0 samples, not kept) for each of 5 items, got $rounds"
[ "$filters" = 5 ] || fail "expected 5 done filter tasks, got $filters"
[ "$after" = 0 ] || fail "items with no scored sample went on to the next stage"
echo "PASS filter_dead"
