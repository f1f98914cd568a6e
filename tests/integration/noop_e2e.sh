#!/usr/bin/env bash
# noop_e2e: submit -> broker -> two workers -> results in Postgres -> export, with
# the noop kind. Checks every item was done exactly once and exported exactly once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup noop_e2e

n=2000
for i in $(seq 1 $n); do
  printf '{"id":"q%d","question":"问题 %d","answer":"A","options":{"A":"是","B":"否"}}\n' "$i" "$i"
done >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "noop-e2e", "stages": [{"name": "echo", "kind": "noop", "params": {}}]}
JSON

start_broker
start_worker w1 noop=32
start_worker w2 noop=32
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) || fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
wait_job "$job" 120

"$BIN/assay" export "$job" -o "$IT_TMP/out.jsonl" >/dev/null || fail "export failed"
rows=$(wc -l <"$IT_TMP/out.jsonl")
distinct=$(grep -o '"item_id": *[0-9]*' "$IT_TMP/out.jsonl" | sort -u | wc -l)
done_tasks=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done'")
outputs=$(sql "SELECT count(*) FROM task_outputs WHERE job_id = $job")
dups=$(sql "SELECT count(*) FROM (SELECT item_id FROM task_outputs WHERE job_id = $job GROUP BY item_id HAVING count(*) > 1) d")
both=$(sql "SELECT count(DISTINCT worker) FROM tasks WHERE job_id = $job")
echo "rows=$rows distinct=$distinct done=$done_tasks outputs=$outputs dups=$dups workers=$both"
[ "$rows" -eq $n ] || fail "exported $rows rows, expected $n"
[ "$distinct" -eq $n ] || fail "exported $distinct distinct items, expected $n"
[ "$done_tasks" -eq $n ] || fail "$done_tasks tasks done, expected $n"
[ "$outputs" -eq $n ] || fail "$outputs outputs, expected $n"
[ "$dups" -eq 0 ] || fail "$dups items have more than one output"
[ "$both" -eq 2 ] || fail "expected both workers to take tasks, saw $both"
grep -q '"echo"' "$IT_TMP/out.jsonl" || fail "export lacks the noop output"
seen=$(sql "SELECT count(*) FROM workers WHERE name IN ('w1', 'w2') AND connected")
[ "$seen" -eq 2 ] || fail "workers table shows $seen of the 2 connected workers"
echo "PASS noop_e2e"
