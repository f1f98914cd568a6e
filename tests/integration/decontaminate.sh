#!/usr/bin/env bash
# decontaminate: `assay submit --decontaminate EVAL.jsonl` drops the items that share
# a 64-character run with an evaluation question, reports each, imports the rest; a
# bad evaluation file stops the submit with nothing imported.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup decontaminate

items="$IT_ROOT/ops/sample/exam_mcq.jsonl"
n=$(grep -c . "$items")
# the evaluation set: five of the questions, re-spaced and with another ending
/usr/bin/python3 - "$items" >"$IT_TMP/eval.jsonl" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    if i in (0, 3, 7, 11, 20):
        q = json.loads(line)["question"]
        print(json.dumps({"question": " ".join(q[:40]) + q[40:] + "（单选）"}, ensure_ascii=False))
PY
echo '{"question": "一个与样本无关的评测问题：下列哪种维生素缺乏会导致夜盲症？"}' >>"$IT_TMP/eval.jsonl"
echo '{"name": "d", "stages": [{"name": "echo", "kind": "noop"}]}' >"$IT_TMP/spec.json"

out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$items" \
      --decontaminate "$IT_TMP/eval.jsonl" --json 2>"$IT_TMP/err.txt") || fail "submit failed: $(cat "$IT_TMP/err.txt")"
echo "$out"
dropped=$(grep -c "dropped: the question shares a run of 64 characters" "$IT_TMP/err.txt")
items_in=$(sql "SELECT count(*) FROM items")
echo "dropped=$dropped imported=$items_in of $n"
[ "$dropped" -eq 5 ] || fail "$dropped items dropped, expected 5"
[ "$items_in" -eq $((n - 5)) ] || fail "$items_in items imported, expected $((n - 5))"
echo "$out" | grep -q '"decontaminated":5' || fail "the JSON result does not report 5 decontaminated items"

# a malformed evaluation file: clear error, nothing imported
echo 'not json' >"$IT_TMP/bad.jsonl"
if "$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$items" --dataset other \
     --decontaminate "$IT_TMP/bad.jsonl" 2>"$IT_TMP/bad.err"; then
  fail "a malformed evaluation set was accepted"
fi
grep -q 'bad.jsonl:1: expected a JSON object with a "question" string' "$IT_TMP/bad.err" ||
  fail "unclear error: $(cat "$IT_TMP/bad.err")"
[ "$(sql "SELECT count(*) FROM items")" -eq $((n - 5)) ] || fail "the failed submit changed the items"

# near duplicates within the import: the second of two questions that differ in one
# character is dropped and reported, a different question stays
cat >"$IT_TMP/near.jsonl" <<'JSON'
{"id": "n1", "question": "患者，男，45岁，反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便，胃镜示十二指肠球部溃疡。最可能的诊断是", "options": {"A": "胃溃疡", "B": "十二指肠溃疡"}, "answer": "B"}
{"id": "n2", "question": "患者，男，46岁，反复上腹痛3年，饥饿时明显，进食后缓解，近1周出现黑便，胃镜示十二指肠球部溃疡。最可能的诊断是", "options": {"A": "胃溃疡", "B": "十二指肠溃疡"}, "answer": "B"}
{"id": "n3", "question": "女性，28岁，停经8周，阴道少量流血2天，下腹隐痛。尿妊娠试验阳性，B超示宫内孕囊。最可能的诊断是", "options": {"A": "先兆流产", "B": "异位妊娠"}, "answer": "A"}
JSON
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/near.jsonl" --near-dup 0.8 --json 2>"$IT_TMP/near.err") ||
  fail "near-dup submit failed: $(cat "$IT_TMP/near.err")"
grep -q 'near.jsonl:2: dropped: near duplicate of line 1' "$IT_TMP/near.err" || fail "near duplicate not reported: $(cat "$IT_TMP/near.err")"
echo "$out" | grep -q '"near_duplicates":1' || fail "the JSON result does not report 1 near duplicate: $out"
[ "$(sql "SELECT count(*) FROM items WHERE dataset = 'near'")" -eq 2 ] || fail "expected 2 items imported from near.jsonl"
echo "PASS decontaminate"
