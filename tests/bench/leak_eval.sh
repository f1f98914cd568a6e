#!/bin/sh
# leak_eval.sh [DATA_DIR]: evaluate leak removal on DATA_DIR/cases.jsonl (default
# ../shared/data next to the project), with the terminology from DATA_DIR (or
# TERMS=DIR|SNAPSHOT) when it holds icd10.tsv.
#
# Prints, last line: leak_rate=X retention=Y evidence_retention=Z cases_per_s=W
#   leak_rate           share of cases whose clean text holds a gold item verbatim; a gold
#                       item is each part of the record's diagnosis string split on list
#                       numbering and punctuation (a bracketed qualifier such as
#                       "（3级，很高危）" is no item) (target 0)
#   retention           share of the original sentences (outside conclusion/management
#                       sections, by leak_eval's own header rule) that name no gold item
#                       and are found whole, verbatim, in the clean text (target >= 0.95)
#   evidence_retention  the same over those holding a number with a unit: labs, vital
#                       signs, sizes (target >= 0.95)
#   cases_per_s         cases per second of CPU time of the one thread doing the work
#                       (lexicon build from the terminology + cleaning + residual check)
# The definitions are leak_eval's own, independent of the engine's gold parsing: see
# the comment at the top of tests/bench/leak_eval.c.
# Environment: BUILD_DIR (default ./build), TERMS, VERBOSE=1 for per-case audits and the
# lost sentences, HIDE_HISTORY=1 to hide the diagnosis in the patient's past history too.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA_DIR=${1:-$ROOT/../shared/data}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

if [ ! -f "$DATA_DIR/cases.jsonl" ]; then
    echo "leak_eval: skipped: $DATA_DIR/cases.jsonl not found (pass the directory of the real data)"
    exit 0
fi
BIN=$BUILD_DIR/bench/leak_eval
if [ ! -x "$BIN" ]; then
    if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake --build "$BUILD_DIR" --target leak_eval -j2 >/dev/null
    else
        echo "leak_eval: $BIN not found: configure and build first (cmake -S . -B build && cmake --build build -j2)" >&2
        exit 1
    fi
fi
TERMS=${TERMS:-}
if [ -z "$TERMS" ] && [ -f "$DATA_DIR/icd10.tsv" ]; then TERMS=$DATA_DIR; fi
if [ -z "$TERMS" ]; then
    echo "leak_eval: no terminology (set TERMS or put icd10.tsv in DATA_DIR): only the gold text is hidden"
fi
set -- "$DATA_DIR/cases.jsonl"
if [ -n "$TERMS" ]; then set -- "$@" "$TERMS"; fi
if [ "${VERBOSE:-0}" = 1 ]; then set -- "$@" -v; fi
if [ "${HIDE_HISTORY:-0}" = 1 ]; then set -- "$@" --hide-history; fi
exec "$BIN" "$@"
