#!/bin/sh
# leak_eval.sh [DATA_DIR]: evaluate leak removal on DATA_DIR/cases.jsonl (default
# ../shared/data next to the project), with the terminology from DATA_DIR (or
# TERMS=DIR|SNAPSHOT) when it holds icd10.tsv.
#
# Prints, last line: leak_rate=X retention=Y cases_per_s=Z
#   leak_rate    share of cases whose clean text still mentions, verbatim, a gold
#                name (a diagnosis item, or a core name parsed from it: qualifiers
#                such as "3级（很高危）" removed, composite items split) or an alias of
#                it from the terminology (target 0). An occurrence whose first
#                character ends a degree word (最高, 偏低, 增大, 较多, …) is no mention:
#                "最高血压为180/85mmHg" is 最高 + 血压, a vital sign that must stay;
#                the number of cases with any plain occurrence is printed above.
#                The same rule applies when sentences are tested below.
#   retention    characters kept / characters of the sentences (split at 。！？；
#                and line ends) of the original text that lie outside conclusion
#                or management sections (a "NAME：" header, or a header line, whose
#                NAME contains 诊断/拟诊/经过/医嘱/出院/治疗/处理/计划/转归/预后/随访/
#                术式/手术名称/手术方式/临床印象/初步印象: leak_eval's own rule, not
#                the engine's; one opened inside a paragraph ends with the line, or
#                with its sentence (and a numbered list after it) when NAME ends in
#                诊断/印象/拟诊; a conclusion section ends at the next header naming a
#                section of history, complaint or findings: NAME ending in 史/主诉/情况/
#                检查/查体/体检/摘要/资料/特点/体征/化验) and that contain none of the case's
#                hidden terms (the case lexicon: gold names, aliases, parent/child
#                terms, codes, diagnosis-specific drugs and treatments from the
#                knowledge graph), by plain substring test on the original
#                sentence, independently of what the engine removed (near mentions,
#                diagnostic statements and list items it removes still count as
#                lost). A sentence found verbatim in the clean
#                text counts whole, else each maximal piece of it (4 characters or
#                more) found verbatim, in order, counts.
#                (target >= 0.90)
#   cases_per_s  cases per second of CPU time of the one thread doing the work
#                (lexicon build from the terminology + cleaning + residual check),
#                the data repeated for at least one CPU second (target >= 2000)
# Environment: BUILD_DIR (default ./build), TERMS, VERBOSE=1 for per-case audits.
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
