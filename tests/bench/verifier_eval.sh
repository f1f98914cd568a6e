#!/bin/sh
# verifier_eval.sh [DATA_DIR] [verify params...]: the rule verifier's k-fold
# self-evaluation on CHIP-CDN training data (see verifier_eval.c for how folds and
# pairs are made). For each fold it builds a terminology directory without the
# held-out mentions (their chip_cdn aliases removed, chip_cdn_train.jsonl holding
# the other folds only) and runs the real handler, `assay run verify --terms
# FOLD_DIR`, at its default settings on (mention, gold name), (mention, sibling in
# the same 3-character category) and (mention, unrelated disease) pairs. Extra
# arguments are passed to `assay run verify` (e.g. --param link=exact).
#
# FOLDS (default 5) sets k. Without the data the evaluation is skipped.
# Last line: accept_same=… accept_sibling=… accept_unrelated=… auc_same_sibling=…
# auc_same_unrelated=…   (acceptance: the `correct` field; AUC: the score)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:-$root/../shared/data}
[ $# -gt 0 ] && shift
if [ ! -f "$data/chip_cdn_train.jsonl" ] || [ ! -f "$data/icd10.tsv" ]; then
    echo "verifier_eval: skipped: no CHIP-CDN data in \"$data\" (give the data directory as the first argument)"
    exit 0
fi
build=${ASSAY_BUILD_DIR:-$root/build}
if [ ! -x "$build/bench/verifier_eval" ] || [ ! -x "$build/bin/assay" ]; then
    cmake -S "$root" -B "$build" >/dev/null
    cmake --build "$build" --target verifier_eval assay -j2 >/dev/null
fi
folds=${FOLDS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier_eval.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
"$build/bench/verifier_eval" prepare "$data" "$tmp" "$folds"
k=0
while [ "$k" -lt "$folds" ]; do
    fd="$tmp/fold_$k"
    t0=$(date +%s)
    "$build/bin/assay" run verify --terms "$fd" --concurrency 1 "$@" \
        < "$fd/pairs.jsonl" > "$fd/out.jsonl" 2> "$fd/err.txt" || true
    if [ ! -s "$fd/out.jsonl" ]; then
        echo "verifier_eval: fold $k produced no output:" >&2
        head -5 "$fd/err.txt" >&2
        exit 1
    fi
    echo "fold $k: $(wc -l < "$fd/out.jsonl") pairs verified in $(( $(date +%s) - t0 )) s"
    k=$((k + 1))
done
if [ -n "${VERIFIER_EVAL_KEEP:-}" ]; then cat "$tmp"/fold_*/out.jsonl > "$VERIFIER_EVAL_KEEP"; fi
"$build/bench/verifier_eval" score "$tmp"/fold_*/out.jsonl
