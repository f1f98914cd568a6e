#!/usr/bin/env bash
# difficulty_rounds: the verifiable-line template on the bundled exam questions.
# assay-simllm answers each question correctly with a known per-question accuracy
# (ops/sample/simllm_answer_key.jsonl), so the filter's decisions can be checked:
# an item goes on exactly when its measured pass rate lies in the band, round 2 only
# sees round-1 survivors, the difficulty history travels with the item, items that
# fall out stay in item_rounds, and the teacher's samples are verified and exported.
# timeout: 300
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup difficulty_rounds

start_simllm --mode r1 --answer-key "$IT_ROOT/ops/sample/simllm_answer_key.jsonl"
for ep in POLICY TEACHER; do
  export "ASSAY_ENDPOINT_${ep}_BASE_URL=$SIMLLM_URL" "ASSAY_ENDPOINT_${ep}_MODEL=sim-r1" \
         "ASSAY_ENDPOINT_${ep}_STYLE=r1"
done
# the config file names the endpoints (the environment fills in their keys)
printf '[endpoint.policy]\nmodel = sim-r1\n[endpoint.teacher]\nmodel = sim-r1\n' >"$IT_TMP/assay.conf"
export ASSAY_CONFIG="$IT_TMP/assay.conf"
start_broker
start_worker w1 generate=32,verify=2,hack_check=1 --terms "$IT_ROOT/ops/sample/terms"
start_worker w2 generate=32,verify=2,hack_check=1 --terms "$IT_ROOT/ops/sample/terms"
job=$("$BIN/assay" submit --spec "$IT_ROOT/ops/pipelines/verifiable_mcq.json" \
      --input "$IT_ROOT/ops/sample/exam_mcq.jsonl" --json | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 240
"$BIN/assay" status "$job"

n=$(grep -c . "$IT_ROOT/ops/sample/exam_mcq.jsonl")
r1=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND round = 1")
wrong=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND kept <> (pass_rate BETWEEN
             CASE round WHEN 1 THEN 0.1 ELSE 0.2 END AND CASE round WHEN 1 THEN 0.9 ELSE 0.8 END)")
r2_not_kept=$(sql "SELECT count(*) FROM item_rounds b WHERE b.job_id = $job AND b.round = 2 AND NOT EXISTS
             (SELECT 1 FROM item_rounds a WHERE a.job_id = $job AND a.round = 1 AND a.item_id = b.item_id AND a.kept)")
kept1=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND round = 1 AND kept")
r2=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND round = 2")
kept2=$(sql "SELECT count(*) FROM item_rounds WHERE job_id = $job AND round = 2 AND kept")
teacher=$(sql "SELECT count(DISTINCT s.item_id) FROM samples s JOIN stages st ON st.id = s.stage_id
               WHERE s.job_id = $job AND st.name = 'teacher'")
history=$(sql "SELECT count(*) FROM tasks t JOIN stages st ON st.id = t.stage_id
               WHERE t.job_id = $job AND st.name = 'teacher' AND jsonb_array_length(t.input->'difficulty') = 2")
echo "items=$n round1=$r1 kept1=$kept1 round2=$r2 kept2=$kept2 teacher_items=$teacher with_history=$history wrong=$wrong"
[ "$r1" -eq "$n" ] || fail "$r1 of $n items got a round-1 pass rate"
[ "$wrong" -eq 0 ] || fail "$wrong filter decisions disagree with the band"
[ "$r2_not_kept" -eq 0 ] || fail "$r2_not_kept items reached round 2 without surviving round 1"
[ "$r2" -eq "$kept1" ] || fail "$r2 items in round 2, $kept1 kept in round 1"
[ "$teacher" -eq "$kept2" ] || fail "$teacher items reached the teacher, $kept2 survived round 2"
[ "$history" -eq "$kept2" ] || fail "$history teacher tasks carry both rounds of difficulty history"
[ "$kept1" -gt 0 ] && [ "$kept1" -lt "$n" ] || fail "round 1 kept $kept1 of $n: the band separated nothing"

# how well the measured band matches the known true accuracy: with n = 8 samples an
# item near a band edge can land on the wrong side, so the bound leaves room for a
# few of them (0.85 of 42 items), but a filter that ignored pass rates fails it
/usr/bin/python3 - "$IT_ROOT/ops/sample/simllm_answer_key.jsonl" "$IT_ROOT/ops/sample/exam_mcq.jsonl" \
  "$(sql "SELECT string_agg(i.ext_id || ':' || r.kept::text, ',') FROM item_rounds r JOIN items i ON i.id = r.item_id WHERE r.job_id = $job AND r.round = 1")" <<'PY'
import json, sys
acc = {json.loads(l).get("question"): json.loads(l)["accuracy"] for l in open(sys.argv[1])}
items = {json.loads(l)["id"]: acc.get(json.loads(l)["question"]) for l in open(sys.argv[2])}
kept = dict(x.split(":") for x in sys.argv[3].split(","))
truth = {k: (0.1 <= a <= 0.9) for k, a in items.items() if a is not None}
tp = sum(1 for k, v in kept.items() if v == "true" and truth.get(k))
fp = sum(1 for k, v in kept.items() if v == "true" and not truth.get(k))
fn = sum(1 for k, v in kept.items() if v == "false" and truth.get(k))
precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
print(f"round-1 band vs true accuracy: precision={precision:.2f} recall={recall:.2f}")
if tp + fp + fn == 0 or precision < 0.85 or recall < 0.85:
    sys.exit(f"FAIL: the round-1 band does not follow the true accuracy (tp={tp} fp={fp} fn={fn})")
PY
"$BIN/assay" export "$job" --format sft -o "$IT_TMP/sft.jsonl" >/dev/null || fail "sft export failed"
"$BIN/assay" export "$job" --format rl -o "$IT_TMP/rl.jsonl" >/dev/null || fail "rl export failed"
echo "PASS difficulty_rounds"
