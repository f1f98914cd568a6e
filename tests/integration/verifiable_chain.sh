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

# training exports: rejection-sampled SFT (two shapes), preference pairs, RL prompts
for f in sft sft-think pairs rl rl-openrlhf grpo; do
  "$BIN/assay" export "$job" --format "$f" -o "$IT_TMP/$f.jsonl" >/dev/null || fail "export --format $f failed"
done
want_sft=$(sql "SELECT count(*) FROM samples s WHERE s.job_id = $job
                AND EXISTS (SELECT 1 FROM scores v WHERE v.sample_id = s.id AND v.scorer = 'verify' AND v.value >= 0.8)
                AND NOT EXISTS (SELECT 1 FROM scores h WHERE h.sample_id = s.id AND h.scorer = 'hack_check'
                                AND (h.detail->>'hacked')::boolean)")
/usr/bin/python3 - "$IT_TMP" "$want_sft" "$n" <<'PY' || fail "training exports are wrong (see above)"
import json, sys
tmp, want_sft, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = lambda f: [json.loads(l) for l in open(f"{tmp}/{f}.jsonl")]
sft, think, pairs, rl, orl = rows("sft"), rows("sft-think"), rows("pairs"), rows("rl"), rows("rl-openrlhf")
assert len(sft) == want_sft > 0, (len(sft), want_sft)
assert len(think) == len(sft)
for r in sft:
    user, asst = r["messages"]
    assert user["role"] == "user" and user["content"] and asst["role"] == "assistant"
    assert asst["reasoning_content"], "reasoning lost"
    assert r["lineage"]["spec_hash"] and r["lineage"]["template_hash"] and r["lineage"]["terms_version"]
for r in think:
    c = r["messages"][1]["content"]
    assert c.startswith("<think>") and "</think>" in c
for p in pairs:
    assert p["chosen_score"] - p["rejected_score"] >= 0.3 - 1e-9, p
    assert p["chosen"]["content"] != p["rejected"]["content"] or p["chosen_score"] != p["rejected_score"]
assert len(rl) == n and len(orl) == n
for r in rl:
    assert r["reward_model"]["ground_truth"] and r["prompt"][0]["content"]
    assert 0 <= r["extra_info"]["pass_rate"] <= 1 and r["extra_info"]["samples"] == 4
for r in orl:
    assert r["input"] and r["label"]
grpo = rows("grpo")
assert len(grpo) == 4 * n, len(grpo)
groups = {}
for r in grpo:
    assert 0 <= r["reward"] <= 1 and r["response"] is not None
    groups.setdefault(r["lineage"]["item_id"], []).append(r["advantage"])
for adv in groups.values():
    assert abs(sum(adv) / len(adv)) < 1e-6, adv      # group-normalised: mean 0 per item
print(f"sft={len(sft)} pairs={len(pairs)} rl={len(rl)} grpo={len(grpo)} groups={len(groups)}")
PY
# every selected triple's answer names the gold diagnosis; none is hack-flagged
bad=$(sql "SELECT count(*) FROM samples s JOIN items i ON i.id = s.item_id
           WHERE s.job_id = $job AND position(i.answer IN s.answer) = 0
             AND EXISTS (SELECT 1 FROM scores v WHERE v.sample_id = s.id AND v.scorer = 'verify' AND v.value >= 0.8)")
[ "$bad" -eq 0 ] || fail "$bad selected samples do not name their gold diagnosis"
echo "PASS verifiable_chain"
