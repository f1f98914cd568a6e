#!/usr/bin/env bash
# verifiable_chain: a four-stage job on the bundled case records streams item by
# item through leak_removal -> generate (n = 4) -> verify -> hack_check. Checks the
# fan-out (one verify and one hack_check task per sample), one score per
# (sample, scorer), no leak left in the questions sent to the model, and that the
# verifier's verdict agrees with what the sample says.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup verifiable_chain

start_simllm --mode r1 --answer-key "$IT_ROOT/ops/sample/simllm_answer_key.jsonl"
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
start_broker
start_worker w1 generate=16,leak_removal=1,verify=1,hack_check=1 --terms "$IT_ROOT/ops/sample/terms"
start_worker w2 generate=16,leak_removal=1,verify=1,hack_check=1 --terms "$IT_ROOT/ops/sample/terms"
job=$("$BIN/assay" submit --spec "$IT_ROOT/ops/pipelines/demo_cases.json" \
      --input "$IT_ROOT/ops/sample/cases.jsonl" --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 200
"$BIN/assay" status "$job"

n=$(grep -c . "$IT_ROOT/ops/sample/cases.jsonl")
samples=$(sql "SELECT count(*) FROM samples WHERE job_id = $job")
vtasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'verify' AND state = 'done'")
htasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND kind = 'hack_check' AND state = 'done'")
vscores=$(sql "SELECT count(DISTINCT sample_id) FROM scores WHERE job_id = $job AND scorer = 'verify'")
dup=$(sql "SELECT count(*) FROM (SELECT sample_id, scorer FROM scores WHERE job_id = $job GROUP BY 1, 2 HAVING count(*) > 1) d")
leaks=$(sql "SELECT count(*) FROM task_outputs o JOIN items i ON i.id = o.item_id
             WHERE o.job_id = $job AND position(i.answer IN o.output->>'clean_text') > 0")
# the verifier's verdict against the plain fact: does the sample's diagnosis line name the gold?
disagree=$(sql "SELECT count(*) FROM scores sc JOIN samples s ON s.id = sc.sample_id
                JOIN items i ON i.id = s.item_id
                WHERE sc.job_id = $job AND sc.scorer = 'verify'
                  AND (sc.value >= 0.8) <> (position(i.answer IN s.answer) > 0)")
echo "items=$n samples=$samples verify_tasks=$vtasks hack_tasks=$htasks scored=$vscores dup=$dup leaks=$leaks disagree=$disagree"
[ "$samples" -eq $((n * 4)) ] || fail "$samples samples for $n items at n=4"
[ "$vtasks" -eq "$samples" ] || fail "$vtasks verify tasks for $samples samples"
[ "$htasks" -eq "$samples" ] || fail "$htasks hack_check tasks for $samples samples"
[ "$vscores" -eq "$samples" ] || fail "$vscores samples scored by the verifier of $samples"
[ "$dup" -eq 0 ] || fail "$dup (sample, scorer) pairs scored twice"
[ "$leaks" -eq 0 ] || fail "$leaks leak-removed questions still name their diagnosis"
[ "$disagree" -eq 0 ] || fail "$disagree verdicts disagree with the sample's diagnosis"
echo "PASS verifiable_chain"
