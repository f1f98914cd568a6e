#!/usr/bin/env bash
# submit_checks: `assay submit` refuses, before anything is written, what would
# only fail later on workers: a parameter a task kind does not declare (or of the
# wrong type or range), a filter band with min_pass_rate > max_pass_rate, an
# endpoint the configuration does not define, a template the prompts directory
# lacks, items without the fields the stages read (mcq options or gold answer),
# and a non-integer item priority. Each message names file, line (for items) and
# field. The shipped pipelines pass with the shipped sample items. A dry run leaves no trace: no job id is used (the next real submit gets
# id 1), no item is stored.
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup submit_checks
A=$BIN/assay

run() {
  local want=$1 rc=0
  shift
  "$A" "$@" >"$IT_TMP/out" 2>"$IT_TMP/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "assay $*: exit $rc, expected $want
stdout: $(cat "$IT_TMP/out")
stderr: $(cat "$IT_TMP/err")"
}
err_has() { grep -qF -- "$1" "$IT_TMP/err" || fail "stderr lacks \"$1\": $(cat "$IT_TMP/err")"; }
nothing_written() {
  [ "$(sql "SELECT (SELECT count(*) FROM items) || '/' || (SELECT count(*) FROM jobs)")" = 0/0 ] ||
    fail "a refused submit wrote rows"
}

export ASSAY_ENDPOINT_SIM_BASE_URL=http://127.0.0.1:9/v1 ASSAY_ENDPOINT_SIM_MODEL=m
spec() { # spec FILE STAGES_JSON
  printf '{"name": "checks", "stages": %s}\n' "$2" >"$IT_TMP/$1"
}
printf '{"id":"m1","question":"问题一","options":{"A":"甲","B":"乙"},"answer":"A"}\n{"id":"m2","question":"问题二","options":{"A":"甲","B":"乙"},"answer":"AB","multi_answer":true}\n' \
  >"$IT_TMP/items.jsonl"
gen='{"name": "answer", "kind": "generate", "params": {"endpoint": "sim", "template": "answer_mcq", "n": 2}}'
ver='{"name": "verify", "kind": "verify", "params": {}}'

# ------------------------------------------------------------ spec checks
spec typo.json "[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": {\"temprature\": 0.5}}]"
run 1 submit --spec "$IT_TMP/typo.json" --input "$IT_TMP/items.jsonl"
err_has 'stages[0].params: unknown parameter "temprature" for kind generate (accepted: endpoint, template'
spec range.json "[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": {\"temperature\": 5}}]"
run 1 submit --spec "$IT_TMP/range.json" --input "$IT_TMP/items.jsonl"
err_has 'stages[0].params: parameter "temperature": expected a number from 0 to 2, got 5'
spec band.json "[$gen, $ver, {\"name\": \"band\", \"kind\": \"filter\", \"params\": {\"min_pass_rate\": 0.9, \"max_pass_rate\": 0.1}}]"
run 1 submit --spec "$IT_TMP/band.json" --input "$IT_TMP/items.jsonl"
err_has 'stages[2].params: min_pass_rate 0.9 is above max_pass_rate 0.1'
spec fkey.json "[$gen, $ver, {\"name\": \"band\", \"kind\": \"filter\", \"params\": {\"min_pass\": 0.1}}]"
run 1 submit --spec "$IT_TMP/fkey.json" --input "$IT_TMP/items.jsonl"
err_has 'unknown parameter "min_pass" for a filter stage'
spec ep.json "[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": {\"endpoint\": \"polcy\"}}]"
run 1 submit --spec "$IT_TMP/ep.json" --input "$IT_TMP/items.jsonl"
err_has 'stages[0].params.endpoint: endpoint "polcy" is not configured'
err_has 'ASSAY_ENDPOINT_POLCY_BASE_URL'
spec tpl.json "[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": {\"template\": \"answer_mqc\"}}]"
run 1 submit --spec "$IT_TMP/tpl.json" --input "$IT_TMP/items.jsonl"
err_has 'stages[0].params.template: could not open prompt template'
err_has 'answer_mqc.txt'
spec judge.json "[$gen, {\"name\": \"j\", \"kind\": \"judge\", \"params\": {\"judge\": \"outcom\"}}]"
run 1 submit --spec "$IT_TMP/judge.json" --input "$IT_TMP/items.jsonl"
err_has 'judge_outcom.txt'
spec tver.json "[{\"name\": \"answer\", \"kind\": \"generate\", \"params\": {\"template\": \"answer_mcq\", \"template_version\": 7}}]"
run 1 submit --spec "$IT_TMP/tver.json" --input "$IT_TMP/items.jsonl"
err_has 'template "answer_mcq" is version 1'
nothing_written

# ------------------------------------------------------------ item checks
spec good.json "[$gen, $ver]"
cp "$IT_TMP/items.jsonl" "$IT_TMP/bad.jsonl"
printf '{"id":"m3","question":"问题三","options":null,"answer":"A"}\n' >>"$IT_TMP/bad.jsonl"
printf '{"id":"m4","question":"问题四","options":{"A":"甲","B":"乙"},"answer":null}\n' >>"$IT_TMP/bad.jsonl"
printf '{"id":"m5","question":"问题五","options":{"A":"甲","B":"乙"},"answer":"A","priority":"high"}\n' >>"$IT_TMP/bad.jsonl"
run 1 submit --spec "$IT_TMP/good.json" --input "$IT_TMP/bad.jsonl"
err_has "bad.jsonl:3: field \"options\": null, but template \"answer_mcq\" of stage \"answer\" needs it"
err_has "bad.jsonl:4: field \"answer\": null, but stage \"verify\" (verify) needs the gold option letters"
err_has "bad.jsonl:5: field \"priority\": expected an integer"
nothing_written
# an item without the gold is fine when no stage compares with it
spec genonly.json "[$gen]"
printf '{"id":"m4","question":"问题四","options":{"A":"甲","B":"乙"},"answer":null}\n' >"$IT_TMP/nogold.jsonl"
run 0 submit --spec "$IT_TMP/genonly.json" --input "$IT_TMP/nogold.jsonl" --dry-run

# ------------------------------------------------------------ dry run: no trace
run 0 submit --spec "$IT_TMP/good.json" --input "$IT_TMP/items.jsonl" --dry-run --json
jq -e '.dry_run == true and .items == 2 and .new_items == 2' "$IT_TMP/out" >/dev/null ||
  fail "dry run output: $(cat "$IT_TMP/out")"
run 0 submit --spec "$IT_TMP/good.json" --input "$IT_TMP/items.jsonl" --dry-run
nothing_written
[ "$(sql "SELECT is_called FROM jobs_id_seq")" = f ] || fail "a dry run used a job id"
run 0 submit --spec "$IT_TMP/good.json" --input "$IT_TMP/items.jsonl" --json
[ "$(jq -r .job "$IT_TMP/out")" = 1 ] || fail "the first real job is not job 1: $(cat "$IT_TMP/out")"
# a dry run over an existing dataset counts old and new items, still without a trace
printf '{"id":"m9","question":"问题九","options":{"A":"甲","B":"乙"},"answer":"B"}\n' >>"$IT_TMP/items.jsonl"
run 0 submit --spec "$IT_TMP/good.json" --input "$IT_TMP/items.jsonl" --dry-run --json
jq -e '.items == 3 and .new_items == 1' "$IT_TMP/out" >/dev/null || fail "dry run output: $(cat "$IT_TMP/out")"
run 0 submit --spec "$IT_TMP/good.json" --dataset items --dry-run --json
jq -e '.items == 2' "$IT_TMP/out" >/dev/null || fail "dry run output: $(cat "$IT_TMP/out")"
[ "$(sql "SELECT count(*) FROM items")/$(sql "SELECT last_value FROM jobs_id_seq")" = 2/1 ] ||
  fail "dry runs changed items or the job sequence"

# ------------------------------------------------------------ shipped pipelines pass
for e in POLICY TEACHER JUDGE; do
  export "ASSAY_ENDPOINT_${e}_BASE_URL=http://127.0.0.1:9/v1" "ASSAY_ENDPOINT_${e}_MODEL=m"
done
for pair in demo_mcq:exam_mcq verifiable_mcq:exam_mcq judged_mcq:exam_mcq demo_cases:cases \
            demo_open:health_questions nonverifiable_open:health_questions; do
  run 0 submit --spec "$IT_ROOT/ops/pipelines/${pair%%:*}.json" \
    --input "$IT_ROOT/ops/sample/${pair#*:}.jsonl" --dataset "ship_${pair%%:*}" --dry-run
done
[ "$(sql "SELECT count(*) FROM items")/$(sql "SELECT last_value FROM jobs_id_seq")" = 2/1 ] ||
  fail "dry runs of the shipped pipelines changed something"
echo "submit_checks: ok"
