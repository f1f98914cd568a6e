#!/bin/sh
# cdn_eval.sh [DATA_DIR] [cdn_eval options...]: the normaliser's accuracy on CHIP-CDN
# by 5-fold cross-validation (see cdn_eval.c). DATA_DIR defaults to ../shared/data
# relative to the repository root; without the data the benchmark is skipped.
# The last line printed is `cdn_precision=P cdn_recall=R cdn_f1=F`.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:-$root/../shared/data}
[ $# -gt 0 ] && shift
if [ ! -f "$data/chip_cdn_train.jsonl" ] || [ ! -f "$data/icd10.tsv" ]; then
    echo "cdn_eval: skipped: no CHIP-CDN data in \"$data\" (give the data directory as the first argument)"
    exit 0
fi
build=${ASSAY_BUILD_DIR:-$root/build}
if [ ! -x "$build/bench/cdn_eval" ]; then
    cmake -S "$root" -B "$build" >/dev/null
    cmake --build "$build" --target cdn_eval -j2 >/dev/null
fi
exec "$build/bench/cdn_eval" --data "$data" --folds 5 "$@"
