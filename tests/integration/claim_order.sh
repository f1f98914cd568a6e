#!/usr/bin/env bash
# claim_order: a job's first-stage items are claimed in priority order (higher
# "priority" first, then import order), behind the stage's cursor; the views count
# the items not claimed yet as pending; a re-submit over the same dataset numbers
# its items the same way.
# timeout: 60
set -euo pipefail
. "$(dirname "$0")/lib.sh"
it_setup claim_order

n=90
for i in $(seq 1 $n); do
  printf '{"id":"p%d","question":"order %d","priority":%d}\n' "$i" "$i" $((i % 3))
done >"$IT_TMP/items.jsonl"
cat >"$IT_TMP/spec.json" <<'JSON'
{"name": "claim-order", "stages": [{"name": "s", "kind": "noop", "params": {}}]}
JSON

start_broker
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "submit failed"
job=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
# no worker yet: nothing is claimed, every item counts as pending
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job")" = 0 ] || fail "tasks written before any claim"
[ "$(sql "SELECT pending || '|' || tasks FROM job_progress WHERE job_id = $job")" = "$n|$n" ] ||
  fail "job_progress: $(sql "SELECT pending || '|' || tasks FROM job_progress WHERE job_id = $job")"

# one slot: the broker claims a few at a time, in order
start_worker w noop=1
wait_job "$job" 40
# task ids are handed out in claim order
order=$(sql "SELECT string_agg(t.priority::text, '' ORDER BY t.id) FROM tasks t WHERE t.job_id = $job")
want=$(printf '2%.0s' $(seq 1 30))$(printf '1%.0s' $(seq 1 30))$(printf '0%.0s' $(seq 1 30))
[ "$order" = "$want" ] || fail "claim order by priority: $order"
# within a priority, import order
ids=$(sql "SELECT string_agg(i.ext_id, ',' ORDER BY t.id) FROM tasks t JOIN items i ON i.id = t.item_id
           WHERE t.job_id = $job AND t.priority = 2")
[ "${ids%%,*}" = p2 ] && [ "${ids##*,}" = p89 ] || fail "order within priority 2: $ids"
[ "$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state = 'done' AND attempt = 1")" = $n ] ||
  fail "not every task done once"
[ "$(sql "SELECT pending || '|' || done FROM job_progress WHERE job_id = $job")" = "0|$n" ] ||
  fail "job_progress after the job"

# the same dataset again (every item exists): same numbering
out=$("$BIN/assay" submit --spec "$IT_TMP/spec.json" --input "$IT_TMP/items.jsonl" --json) ||
  fail "second submit failed"
job2=$(echo "$out" | sed -n 's/.*"job":\([0-9]*\).*/\1/p')
wait_job "$job2" 40
order2=$(sql "SELECT string_agg(t.priority::text, '' ORDER BY t.id) FROM tasks t WHERE t.job_id = $job2")
[ "$order2" = "$want" ] || fail "second job's claim order: $order2"
echo "PASS claim_order"
