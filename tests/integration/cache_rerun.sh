#!/usr/bin/env bash
# cache_rerun: a generate job run twice over the same items with the same spec
# pays once. The second job's samples come from llm_cache (cost 0, marked cached)
# and assay-simllm sees no new request.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup cache_rerun

start_simllm --mode r1
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1 ASSAY_ENDPOINT_SIM_PRICE_IN_PER_MTOK=1 \
       ASSAY_ENDPOINT_SIM_PRICE_OUT_PER_MTOK=4
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "paid-once", "stages": [{"name": "answer", "kind": "generate",
  "params": {"endpoint": "sim", "template": "answer_mcq", "n": 3, "seed": 9}}]}
JSON
head -n 10 "$IT_ROOT/ops/sample/exam_mcq.jsonl" >"$IT_TMP/items.jsonl"
start_broker
start_worker w1 generate=16
requests() { curl -sf "$SIMLLM_URL/../stats" | sed -n 's/.*"requests": *\([0-9]*\).*/\1/p'; }

job1=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
       sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job1" 120
paid=$(requests)
job2=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --dataset items --json |
       sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job2" 120
after=$(requests)
cost1=$(sql "SELECT round(sum(cost_usd)::numeric, 8) FROM samples WHERE job_id = $job1")
cost2=$(sql "SELECT coalesce(sum(cost_usd), 0) FROM samples WHERE job_id = $job2")
cached2=$(sql "SELECT count(*) FROM samples WHERE job_id = $job2 AND cached")
same=$(sql "SELECT count(*) FROM samples a JOIN samples b ON a.item_id = b.item_id AND a.idx = b.idx
            WHERE a.job_id = $job1 AND b.job_id = $job2 AND a.answer = b.answer AND a.cache_key = b.cache_key")
echo "requests first=$paid after_second=$after cost1=$cost1 cost2=$cost2 cached2=$cached2 same=$same"
[ "$paid" -gt 0 ] || fail "the first job made no request"
[ "$after" -eq "$paid" ] || fail "the second job paid $((after - paid)) requests again"
[ "$cached2" -eq 30 ] || fail "$cached2 of 30 samples of the second job came from the cache"
[ "$same" -eq 30 ] || fail "only $same cached samples equal the paid ones"
[ "$cost2" = "0" ] || fail "cached samples were charged: $cost2"
echo "PASS cache_rerun"
