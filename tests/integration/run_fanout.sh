#!/usr/bin/env bash
# run_fanout: `assay run generate | assay run KIND` for the per-sample kinds
# (verify, hack_check, judge, cot_actions) checks every sample, one output line per sample in
# order, with the input the broker builds for that kind's stage task: the same
# pipeline run as a job must give each verify task the same input (but for the
# database's sample_id). A line that already has "sample" runs once, as before;
# malformed samples fail their own line with file, line and field.
# timeout: 180
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup run_fanout
PY=/usr/bin/python3
N=3
head -n 8 "$IT_ROOT/ops/sample/exam_mcq.jsonl" >"$IT_TMP/items.jsonl"
ITEMS=$(wc -l <"$IT_TMP/items.jsonl")
TERMS=$IT_ROOT/ops/sample/terms

start_simllm --mode r1 --quiet --answer-key "$IT_TMP/items.jsonl"
export ASSAY_ENDPOINT_SIM_BASE_URL="$SIMLLM_URL" ASSAY_ENDPOINT_SIM_MODEL=sim-r1 \
       ASSAY_ENDPOINT_SIM_STYLE=r1
GEN=(--param endpoint=sim --param template=answer_mcq --param n=$N --param seed=11
     --param temperature=1)

"$BIN/assay" run generate "${GEN[@]}" <"$IT_TMP/items.jsonl" >"$IT_TMP/gen.jsonl" ||
  fail "assay run generate failed"
for kind in verify hack_check judge cot_actions; do
  args=(--terms "$TERMS")
  [ "$kind" = judge ] && args=(--param judge=outcome --param endpoint=sim)
  "$BIN/assay" run "$kind" "${args[@]}" <"$IT_TMP/gen.jsonl" >"$IT_TMP/$kind.jsonl" \
    2>"$IT_TMP/$kind.log" || fail "assay run $kind on generate output failed"
  # the same with a window smaller than one item's samples
  "$BIN/assay" run "$kind" "${args[@]}" --concurrency 2 <"$IT_TMP/gen.jsonl" \
    >"$IT_TMP/$kind.c2.jsonl" 2>>"$IT_TMP/$kind.log" || fail "assay run $kind --concurrency 2 failed"
done

$PY - "$IT_TMP" "$N" <<'PY' || fail "per-sample output is wrong"
import json, sys
tmp, n = sys.argv[1], int(sys.argv[2])
load = lambda f: [json.loads(l) for l in open("%s/%s" % (tmp, f))]
gen = load("gen.jsonl")
items = load("items.jsonl")
field = {"verify": "score", "hack_check": "hack_score", "judge": "score",
         "cot_actions": "reasoning_difficulty"}
for kind, key in field.items():
    rows = load(kind + ".jsonl")
    assert len(rows) == len(gen) * n, (kind, len(rows), len(gen) * n)
    timeless = lambda rs: [{k: v for k, v in r.items() if k != "latency_ms"} for r in rs]
    assert timeless(rows) == timeless(load(kind + ".c2.jsonl")), \
        "%s: --concurrency 2 gives other lines" % kind
    for i, r in enumerate(rows):
        g, s = gen[i // n], gen[i // n]["samples"][i % n]
        assert "error" not in r, (kind, i, r.get("error"))
        assert r["id"] == g["id"], (kind, i, r["id"], g["id"])
        assert "samples" not in r and "sample_id" not in r, (kind, i)
        want = {"idx": s["index"], "answer": s["answer"], "reasoning": s["reasoning"],
                "model": s["model"]}
        assert r["sample"] == want, (kind, i, r["sample"], want)
        assert r["sample"]["idx"] == i % n, (kind, i)
        assert isinstance(r.get(key), (int, float)), (kind, i, key, r.get(key))
        # the item and what generate said about it are passed on (judge outputs
        # its own endpoint and template, so those are not compared)
        for k in list(items[i // n]) + ["n", "requests", "cached_samples"]:
            assert r[k] == g[k], (kind, i, k)
    print("%s: %d lines for %d items x %d samples" % (kind, len(rows), len(gen), n))
PY

# a line that already holds one sample runs once, as before
head -n 1 "$IT_TMP/verify.jsonl" | "$BIN/assay" run verify --terms "$TERMS" >"$IT_TMP/one.jsonl" ||
  fail "verify of a line with a sample failed"
[ "$(wc -l <"$IT_TMP/one.jsonl")" = 1 ] || fail "a line with \"sample\" gave $(wc -l <"$IT_TMP/one.jsonl") lines"

# malformed generate output: the bad sample fails alone, with line and field
printf '%s\n' '{"id": "b1", "answer": "A", "options": {"A": "急性阑尾炎", "B": "肺炎"}, "samples": [{"answer": "答案：A"}, 5]}' \
  '{"id": "b2", "answer": "A", "samples": "A"}' >"$IT_TMP/bad.jsonl"
rc=0
"$BIN/assay" run verify --terms "$TERMS" <"$IT_TMP/bad.jsonl" >"$IT_TMP/bad.out" \
  2>"$IT_TMP/bad.err" || rc=$?
[ "$rc" = 1 ] || fail "malformed samples: exit $rc, expected 1"
grep -q 'stdin:1: samples\[1\]: expected an object' "$IT_TMP/bad.err" ||
  fail "no error naming line 1, samples[1]: $(cat "$IT_TMP/bad.err")"
grep -q 'stdin:2: field "samples": expected an array' "$IT_TMP/bad.err" ||
  fail "no error naming line 2, field samples: $(cat "$IT_TMP/bad.err")"
$PY - "$IT_TMP/bad.out" <<'PY' || fail "malformed samples: wrong output lines"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3, len(rows)
assert "error" not in rows[0] and rows[0]["sample"]["idx"] == 0, rows[0]
assert "expected an object" in rows[1]["error"]["reason"], rows[1]
assert "expected an array" in rows[2]["error"]["reason"], rows[2]
PY

# the same pipeline as a job: every verify task's input is the offline one
cat >"$IT_TMP/spec.json" <<JSON
{"name": "fanout", "stages": [
  {"name": "answer", "kind": "generate", "timeout_s": 60,
   "params": {"endpoint": "sim", "template": "answer_mcq", "n": $N, "seed": 11, "temperature": 1}},
  {"name": "check", "kind": "verify", "params": {}}]}
JSON
start_broker
start_worker w1 generate=8,verify=2 --terms "$TERMS"
job=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json |
      sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "submit failed"
wait_job "$job" 120
# every verify task stored (the job's state may turn done a moment before the last
# results are written)
checks() {
  sql "SELECT count(*) FROM tasks t JOIN stages s ON s.id = t.stage_id
       WHERE t.job_id = $job AND s.name = 'check' AND t.state = 'done'"
}
for _ in $(seq 1 300); do [ "$(checks)" = $((ITEMS * N)) ] && break; sleep 0.2; done
sql "SELECT t.input FROM tasks t JOIN stages s ON s.id = t.stage_id
     WHERE t.job_id = $job AND s.name = 'check'" >"$IT_TMP/broker_inputs.jsonl"
# what verify adds to its input: its output's keys
echo '{"answer": "A", "options": {"A": "x", "B": "y"}, "prediction": "答案：A"}' |
  "$BIN/assay" run verify --terms "$TERMS" >"$IT_TMP/probe.jsonl" || fail "verify probe failed"
$PY - "$IT_TMP" "$ITEMS" "$N" <<'PY' || fail "offline per-sample input differs from the broker's"
import json, sys
tmp, items, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
probe = json.loads(open(tmp + "/probe.jsonl").readline())
added = set(probe) - {"answer", "options", "prediction"}
broker = [json.loads(l) for l in open(tmp + "/broker_inputs.jsonl")]
assert len(broker) == items * n, (len(broker), items * n)
offline = {(r["id"], r["sample"]["idx"]): r
           for r in (json.loads(l) for l in open(tmp + "/verify.jsonl"))}
for b in broker:
    assert isinstance(b.pop("sample_id"), int), b
    o = offline[(b["id"], b["sample"]["idx"])]
    o_input = {k: v for k, v in o.items() if k not in added}
    if o_input != b:
        diff = sorted(k for k in set(o_input) | set(b) if o_input.get(k) != b.get(k))
        raise AssertionError("item %s sample %s differs in %s" % (b["id"], b["sample"]["idx"], diff))
print("broker: %d verify task inputs equal the offline ones" % len(broker))
PY
echo "PASS run_fanout"
