#!/usr/bin/env bash
# judge_pipeline: ops/pipelines/judged_mcq.json, generate (n = 2) -> judge (outcome)
# -> judge (consistency), on the bundled exam questions through broker, worker and
# assay-simllm. Every sample gets one judge task per judge stage and one scores row
# per (sample, scorer) named after the judge, with the judgement as detail; the outcome scores follow
# simllm's judge rule (the answer's first line holds the gold letter -> >= 0.7,
# else <= 0.4).
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup judge_pipeline

start_simllm --mode r1 --answer-key "$IT_ROOT/ops/sample/simllm_answer_key.jsonl"
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
head -n 10 "$IT_ROOT/ops/sample/exam_mcq.jsonl" >"$IT_TMP/items.jsonl"
start_broker
start_worker w1 generate=8,judge=8
job=$("$BIN/assay" submit --spec "$IT_ROOT/ops/pipelines/judged_mcq.json" \
      --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 200
"$BIN/assay" status "$job"

samples=$(sql "SELECT count(*) FROM samples WHERE job_id = $job")
jtasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'judge' AND state = 'done'")
outcome=$(sql "SELECT count(DISTINCT sample_id) FROM scores WHERE job_id = $job AND scorer = 'outcome'")
consistency=$(sql "SELECT count(DISTINCT sample_id) FROM scores WHERE job_id = $job AND scorer = 'consistency'")
other=$(sql "SELECT count(*) FROM scores WHERE job_id = $job AND scorer NOT IN ('outcome', 'consistency')")
detail=$(sql "SELECT count(*) FROM scores WHERE job_id = $job AND comment <> ''
              AND detail->>'template' LIKE 'judge_%' AND length(detail->>'template_hash') = 64
              AND jsonb_typeof(detail->'dimensions') = 'object'")
disagree=$(sql "SELECT count(*) FROM scores sc JOIN samples s ON s.id = sc.sample_id
                JOIN items i ON i.id = s.item_id
                WHERE sc.job_id = $job AND sc.scorer = 'outcome'
                  AND CASE WHEN position(i.answer IN split_part(s.answer, E'\n', 1)) > 0
                           THEN sc.value < 0.7 ELSE sc.value > 0.4 END")
high=$(sql "SELECT count(*) FROM scores WHERE job_id = $job AND scorer = 'outcome' AND value >= 0.7")
echo "samples=$samples judge_tasks=$jtasks outcome=$outcome consistency=$consistency other=$other detail=$detail disagree=$disagree outcome_high=$high"
[ "$samples" -eq 20 ] || fail "$samples samples for 10 items at n=2"
[ "$jtasks" -eq $((samples * 2)) ] || fail "$jtasks judge tasks for $samples samples and 2 judges"
[ "$outcome" -eq "$samples" ] || fail "$outcome samples with an outcome score of $samples"
[ "$consistency" -eq "$samples" ] || fail "$consistency samples with a consistency score of $samples"
[ "$other" -eq 0 ] || fail "$other scores under another scorer name"
[ "$detail" -eq $((samples * 2)) ] || fail "only $detail scores carry the judgement as detail"
[ "$disagree" -eq 0 ] || fail "$disagree outcome scores disagree with the gold"
[ "$high" -gt 0 ] && [ "$high" -lt "$samples" ] || fail "outcome scores do not separate ($high high)"
echo "PASS judge_pipeline"
