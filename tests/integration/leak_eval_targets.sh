#!/usr/bin/env bash
# leak_eval_targets.sh: tests/bench/leak_eval.sh holds its targets (leak rate 0,
# retention and evidence retention >= 0.95, no record refused) on the case records
# written for the leak tests (tests/data/leak/cases.jsonl: null sections, a
# relative's history naming the gold, conclusion markers before results, the
# past history, suspected items), and on the real case records when their
# directory is there (ASSAY_DATA_DIR, default ../shared/data next to the
# repository).
# timeout: 300
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ASSAY_BUILD:-$ROOT/build}
BIN=$BUILD/bench/leak_eval
if [ ! -x "$BIN" ]; then
    echo "leak_eval_targets: $BIN not built" >&2
    exit 1
fi

# check NAME OUTPUT: the last line's figures against the targets
check() {
    local name=$1 out=$2 last
    last=$(printf '%s\n' "$out" | tail -n 1)
    echo "$name: $last"
    printf '%s\n' "$out" | grep -q ' errors=0 ' || { echo "FAIL $name: records refused" >&2; exit 1; }
    printf '%s\n' "$last" | awk '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (v["leak_rate"] != 0) { print "leak_rate " v["leak_rate"] " != 0"; exit 1 }
        if (v["retention"] < 0.95) { print "retention " v["retention"] " < 0.95"; exit 1 }
        if (v["evidence_retention"] < 0.95) { print "evidence_retention " v["evidence_retention"] " < 0.95"; exit 1 }
    }' >&2 || { echo "FAIL $name" >&2; exit 1; }
}

check fixture "$("$BIN" "$ROOT/tests/data/leak/cases.jsonl" "$ROOT/tests/data/leak")"

DATA=${ASSAY_DATA_DIR:-$ROOT/../shared/data}
if [ -f "$DATA/cases.jsonl" ] && [ -f "$DATA/icd10.tsv" ]; then
    check real "$("$BIN" "$DATA/cases.jsonl" "$DATA")"
else
    echo "leak_eval_targets: no real case records in $DATA: checked the fixture only"
fi
echo "leak_eval_targets: ok"
