#!/usr/bin/env bash
# two_lines_real: both data lines at once on real items from the shared data
# directory (ASSAY_DATA_DIR, default ../shared/data next to the repository; skipped
# with a message and exit code 77 when it is absent): 200 exam questions through the verifiable line
# (16 policy samples, a pass-rate band, a teacher, verifier, hack checks) and 100 open
# health questions through the non-verifiable line (candidates, preference judge, hack
# checks) and 60 real case records through leak removal, answers, verifier and hack
# checks, side by side on two workers against assay-simllm, whose per-question
# accuracy is drawn by this test and therefore known. Checks: the filter keeps the
# items whose true accuracy lies in the band (precision and recall >= 0.9 at n = 16);
# no exported SFT triple has a wrong answer or a hack flag; the two jobs ran
# concurrently; every exported row traces back to its item and sample.
# timeout: 600
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DATA=${ASSAY_DATA_DIR:-$IT_ROOT/../shared/data}
if [ ! -f "$DATA/exam_mcq.jsonl" ] || [ ! -f "$DATA/health_questions.jsonl" ]; then
  echo "SKIP two_lines_real: no real data in $DATA (set ASSAY_DATA_DIR)"
  exit 77
fi
it_setup two_lines_real

# items and the answer key: accuracy drawn uniformly per question, seeded
/usr/bin/python3 - "$DATA" "$IT_TMP" <<'PY'
import json, random, sys
data, tmp = sys.argv[1], sys.argv[2]
rnd = random.Random(20261128)
mcq, key = [], []
for line in open(f"{data}/exam_mcq.jsonl", encoding="utf-8"):
    d = json.loads(line)
    if d.get("multi_answer") or not isinstance(d.get("answer"), str) or len(d["answer"]) != 1:
        continue
    if d["answer"] not in d.get("options", {}):
        continue
    mcq.append({"id": d["id"], "question": d["question"], "options": d["options"],
                "answer": d["answer"], "source": d["source"]})
    key.append({"question": d["question"], "answer": d["answer"], "accuracy": round(rnd.random(), 3)})
    if len(mcq) == 200:
        break
cases, ckey = [], []
for line in open(f"{data}/cases.jsonl", encoding="utf-8"):
    d = json.loads(line)
    if d.get("text") and d.get("diagnosis") and len(cases) < 60:
        cases.append({"id": d["id"], "text": d["text"], "diagnosis": d["diagnosis"],
                      **({"fields": d["fields"]} if d.get("fields") else {})})
        key.append({"id": d["id"], "answer": d["diagnosis"], "accuracy": round(rnd.random(), 3)})
opn = []
for line in open(f"{data}/health_questions.jsonl", encoding="utf-8"):
    d = json.loads(line)
    if d.get("reference_answer") and d.get("title"):
        opn.append({"id": d["id"], "question": d["question"], "reference_answer": d["reference_answer"]})
    if len(opn) == 100:
        break
for name, rows in (("mcq", mcq), ("open", opn), ("cases", cases), ("key", key)):
    with open(f"{tmp}/{name}.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
PY
cat >"$IT_TMP/verifiable.json" <<'JSON'
{"name": "real-verifiable", "stages": [
  {"name": "policy", "kind": "generate", "round": 1,
   "params": {"endpoint": "policy", "template": "answer_mcq", "n": 16, "temperature": 1.0, "seed": 7}},
  {"name": "verify_policy", "kind": "verify", "round": 1, "params": {}},
  {"name": "band", "kind": "filter", "round": 1,
   "params": {"min_pass_rate": 0.1, "max_pass_rate": 0.9, "threshold": 0.8}},
  {"name": "teacher", "kind": "generate", "round": 2,
   "params": {"endpoint": "teacher", "template": "answer_mcq", "n": 2, "temperature": 0.7, "seed": 9}},
  {"name": "verify", "kind": "verify", "round": 2, "params": {}},
  {"name": "hack", "kind": "hack_check", "round": 2, "params": {}}]}
JSON
cat >"$IT_TMP/cases.json" <<'JSON'
{"name": "real-verifiable-cases", "stages": [
  {"name": "leak", "kind": "leak_removal", "params": {"allow_unsectioned": true}},
  {"name": "answer", "kind": "generate",
   "params": {"endpoint": "policy", "template": "answer_case_clean", "n": 4, "temperature": 0.8, "seed": 3}},
  {"name": "verify", "kind": "verify", "params": {}},
  {"name": "hack", "kind": "hack_check", "params": {}}]}
JSON
start_simllm --mode r1 --answer-key "$IT_TMP/key.jsonl"
{
  for ep in policy teacher judge; do
    printf '[endpoint.%s]\nbase_url = %s\nmodel = sim-r1\nstyle = r1\n' "$ep" "$SIMLLM_URL"
  done
} >"$IT_TMP/assay.conf"
export ASSAY_CONFIG="$IT_TMP/assay.conf"
start_broker
slots=generate=64,judge=32,verify=16,hack_check=16,leak_removal=2
start_worker w1 "$slots" --terms "$DATA"
start_worker w2 "$slots" --terms "$DATA"
t0=$(date +%s.%N)
jv=$("$BIN/assay" submit --spec "$IT_TMP/verifiable.json" --input "$IT_TMP/mcq.jsonl" --json |
     sed -n 's/.*"job":\([0-9]*\).*/\1/p')
jn=$("$BIN/assay" submit --spec "$IT_ROOT/ops/pipelines/nonverifiable_open.json" --input "$IT_TMP/open.jsonl" --json |
     sed -n 's/.*"job":\([0-9]*\).*/\1/p')
jc=$("$BIN/assay" submit --spec "$IT_TMP/cases.json" --input "$IT_TMP/cases.jsonl" --json |
     sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$jv" ] && [ -n "$jn" ] && [ -n "$jc" ] || fail "submit failed"
wait_job "$jv" 500
t1=$(date +%s.%N)
wait_job "$jn" 300
wait_job "$jc" 300
"$BIN/assay" status "$jv"
"$BIN/assay" status "$jn"
"$BIN/assay" status "$jc"
# leak-removed real cases: the question sent to the model never contains its
# diagnosis, and every exported SFT triple names the gold diagnosis
leaky=$(sql "SELECT count(*) FROM tasks t JOIN items i ON i.id = t.item_id JOIN stages st ON st.id = t.stage_id
             WHERE t.job_id = $jc AND st.name = 'answer' AND position(i.answer IN t.input->>'clean_text') > 0")
[ "$leaky" -eq 0 ] || fail "$leaky real cases still name their diagnosis after leak removal"
"$BIN/assay" export "$jc" --format sft -o "$IT_TMP/c-sft.jsonl" >/dev/null
csft=$(wc -l <"$IT_TMP/c-sft.jsonl")
cwrong=$(/usr/bin/python3 - "$IT_TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
gold = {json.loads(l)["id"]: json.loads(l)["diagnosis"] for l in open(f"{tmp}/cases.jsonl", encoding="utf-8")}
bad = 0
for l in open(f"{tmp}/c-sft.jsonl", encoding="utf-8"):
    r = json.loads(l)
    if gold[r["lineage"]["ext_id"]] not in (r["messages"][1]["content"] or ""):
        bad += 1
print(bad)
PY
)
echo "real cases: sft=$csft wrong=$cwrong"
[ "$csft" -gt 0 ] || fail "no SFT triple from the real cases"
[ "$cwrong" -eq 0 ] || fail "$cwrong SFT triples of real cases do not name the gold diagnosis"

# the two lines ran side by side: each job finished tasks while the other was running
overlap=$(sql "WITH a AS (SELECT min(finished_at) s, max(finished_at) e FROM tasks WHERE job_id = $jv),
                    b AS (SELECT min(finished_at) s, max(finished_at) e FROM tasks WHERE job_id = $jn)
               SELECT extract(epoch FROM least(a.e, b.e) - greatest(a.s, b.s))::numeric(10,2) FROM a, b")
echo "the jobs overlapped for ${overlap}s"
awk -v o="$overlap" 'BEGIN {exit !(o > 0)}' || fail "the two jobs did not run concurrently"

for f in sft pairs rl; do "$BIN/assay" export "$jv" --format "$f" -o "$IT_TMP/v-$f.jsonl" >/dev/null; done
for f in best pairs; do "$BIN/assay" export "$jn" --format "$f" --min-score 0 -o "$IT_TMP/n-$f.jsonl" >/dev/null; done
kept=$(sql "SELECT string_agg(i.ext_id || ':' || r.kept::text, ',') FROM item_rounds r JOIN items i ON i.id = r.item_id WHERE r.job_id = $jv")
/usr/bin/python3 - "$IT_TMP" "$kept" "$(sql "SELECT string_agg(id::text, ',') FROM samples")" <<'PY' || fail "checks on the exports failed (see above)"
import json, re, sys
tmp, kept_s, sample_ids = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
key = {json.loads(l)["question"]: json.loads(l) for l in open(f"{tmp}/key.jsonl", encoding="utf-8") if "question" in json.loads(l)}
items = {json.loads(l)["id"]: json.loads(l) for l in open(f"{tmp}/mcq.jsonl", encoding="utf-8")}
kept = dict(x.split(":") for x in kept_s.split(","))
truth = {i: 0.1 <= key[d["question"]]["accuracy"] <= 0.9 for i, d in items.items()}
tp = sum(1 for i, k in kept.items() if k == "true" and truth[i])
fp = sum(1 for i, k in kept.items() if k == "true" and not truth[i])
fn = sum(1 for i, k in kept.items() if k == "false" and truth[i])
prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
print(f"difficulty band at n=16: decisions={len(kept)} precision={prec:.3f} recall={rec:.3f}")
assert len(kept) == len(items), "not every item got a pass rate"
assert prec >= 0.9 and rec >= 0.9, "the filter does not separate the band well enough"
sft = [json.loads(l) for l in open(f"{tmp}/v-sft.jsonl", encoding="utf-8")]
assert sft, "no SFT triple exported"
wrong = 0
for r in sft:
    lin = r["lineage"]
    assert lin["ext_id"] in items and lin["sample_id"] is not None and str(lin["sample_id"]) in sample_ids
    gold = items[lin["ext_id"]]["answer"]
    m = re.findall(r"答案[:：]\s*([A-E])", r["messages"][1]["content"] or "")
    if not m or m[-1] != gold:
        wrong += 1
print(f"sft triples={len(sft)} wrong={wrong}")
assert wrong == 0, "an exported SFT triple has a wrong answer"
for f in ("v-pairs", "v-rl", "n-best", "n-pairs"):
    for l in open(f"{tmp}/{f}.jsonl", encoding="utf-8"):
        assert json.loads(l)["lineage"]["spec_hash"]
PY
hacked=$(sql "SELECT count(*) FROM scores h JOIN samples s ON s.id = h.sample_id JOIN stages st ON st.id = s.stage_id
              WHERE h.job_id = $jv AND h.scorer = 'hack_check' AND (h.detail->>'hacked')::boolean
                AND st.name = 'teacher' AND EXISTS (SELECT 1 FROM scores v WHERE v.sample_id = s.id
                AND v.scorer = 'verify' AND v.value >= 0.8)")
sftn=$(wc -l <"$IT_TMP/v-sft.jsonl")
expect=$(sql "SELECT count(*) FROM samples s JOIN stages st ON st.id = s.stage_id WHERE s.job_id = $jv AND st.name = 'teacher'
              AND EXISTS (SELECT 1 FROM scores v WHERE v.sample_id = s.id AND v.scorer = 'verify' AND v.value >= 0.8)
              AND NOT EXISTS (SELECT 1 FROM scores h WHERE h.sample_id = s.id AND h.scorer = 'hack_check' AND (h.detail->>'hacked')::boolean)")
[ "$sftn" -eq "$expect" ] || fail "$sftn SFT rows, expected $expect (verified and not hack-flagged; $hacked verified samples were flagged)"
rate=$(echo "200 $t0 $t1" | awk '{printf "%.1f", $1 / ($3 - $2)}')
echo "verifiable line: 200 items (16 + 2 samples each) in $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')s = $rate items/s"
echo "PASS two_lines_real"
