#!/usr/bin/env bash
# run_poison: the inputs that killed workers (issue 13), offline through `assay run`:
# an mcq item with "options": null or without options under answer_mcq, a stage
# param "temperature": 5, a misspelt "temprature". Each must print a clear error and
# exit 1 (it used to print the error and die with SIGSEGV, exit 139). Then every task
# kind gets lines of the wrong shape (nulls, wrong types, empty strings, huge and
# negative numbers): each line ends with a result or an error, never a crash.
# Needs no database: the endpoint is a closed loopback port.
# timeout: 120
set -euo pipefail
A=${ASSAY_BIN:?ASSAY_BIN is set by ctest}/assay
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export ASSAY_ENDPOINT_SIM_BASE_URL=http://127.0.0.1:9/v1 ASSAY_ENDPOINT_SIM_MODEL=m

# expect RC NEEDLE CMD...: stdin from $T/in
expect() {
  local want=$1 needle=$2 rc=0
  shift 2
  "$@" <"$T/in" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, expected $want; stderr: $(cat "$T/err")"
  grep -qF -- "$needle" "$T/err" || fail "$*: stderr lacks \"$needle\": $(cat "$T/err")"
}

echo '{"question":"q","options":null,"answer":"A"}' >"$T/in"
expect 1 'needs field "options", which the item lacks' "$A" run generate --param template=answer_mcq
grep -q '"error"' "$T/out" || fail "the failed line has no error field: $(cat "$T/out")"
echo '{"question":"q","answer":"A"}' >"$T/in"
expect 1 'needs field "options"' "$A" run generate --param template=answer_mcq
echo '{"question":"q","options":{"A":"x","B":"y"},"answer":"A"}' >"$T/in"
expect 1 'parameter "temperature": expected a number from 0 to 2, got 5' "$A" run generate --param temperature=5
expect 1 'unknown parameter "temprature" for kind generate (accepted: endpoint, template' \
  "$A" run generate --param temprature=0.5
expect 1 'parameter "n": expected an integer from 1 to 1000' "$A" run generate --param n=0

# every kind, hostile lines: results or errors, exit 0 or 1, one output line each
cat >"$T/in" <<'EOF'
{}
{"question":null,"options":null,"answer":null,"text":null,"diagnosis":null,"sample":null}
{"question":1,"options":[1],"answer":{"x":1},"text":[],"sample":7,"kind":5}
{"question":"","options":{},"answer":"","text":"","diagnosis":"","sample":{"answer":""}}
{"options":{"A":null,"Z":"x"},"answer":[null],"response":"","gold_codes":[null]}
{"text":"x","diagnosis":[[["a"]],{"codes":5}],"sections":[],"fields":{"a":1},"prediction":"y"}
{"kind":"case","answer":["肺炎",""],"gold_codes":[],"prediction":"诊断："}
{"question":"q","cached":[{"index":-1},{"index":99999999999},{"index":0,"cache_key":5}]}
{"question":"q","options":{"A":"x","B":"y"},"answer":"AB","sample":{"answer":"答案：A","reasoning":null}}
{"text":"1.心房颤动2.高血压病","diagnosis":"1.心房颤动2.高血压病","response":"<think></think>诊断：1. 心房颤动 2. 高血压病"}
EOF
n=$(wc -l <"$T/in")
for kind in $("$A" run --help | sed -n '/^kinds in this build:/,$p' | awk 'NR > 1 {print $1}'); do
  rc=0
  extra=()
  case $kind in generate|judge|leak_removal) extra=(--param max_attempts=1) ;; esac
  "$A" run "$kind" --terms "$ROOT/ops/sample/terms" "${extra[@]}" <"$T/in" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -le 1 ] || fail "assay run $kind: exit $rc on hostile lines; stderr: $(tail -5 "$T/err")"
  [ "$(wc -l <"$T/out")" -eq "$n" ] || fail "assay run $kind: $(wc -l <"$T/out") output lines for $n"
  echo "run_poison: $kind: $(grep -c '"error"' "$T/out") of $n lines failed cleanly"
done
echo "run_poison: ok"
