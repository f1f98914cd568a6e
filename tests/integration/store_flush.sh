#!/usr/bin/env bash
# store_flush: the broker's batched writes, driven through crafted flushes
# (tests/integration/store_flush_run.c) on hand-made rows.
#   1. lost_score: in the flush that re-queues a dead worker's tasks, a verify
#      result arrives while the failures are being written (a trigger makes that
#      statement slow, so it always does): it must get its score row, like the
#      result written before it (a score was lost that way: issue 13, item 2)
#   2. ignored: results that are not stored are counted by reason (stale attempt,
#      duplicate, replayed, task ended, unknown task)
#   3. poison: a first-stage task whose worker dies twice while running it ends
#      dead as a possible poison input, also when the first death comes before
#      its row was written; a task handed back twice by draining workers does not
#   4. a late generate result (stale attempt) is not stored, but its paid samples
#      reach llm_cache and the task's retry carries them
#   5. a task that reports before its lease is written, while the pass writes
#      other reports, is not claimed again by that pass (it ran twice: that was
#      most of assay_broker_results_ignored_total in runs without a fault)
# timeout: 120
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUN=${ASSAY_BUILD:-$IT_ROOT/build}/tests/store_flush_run
[ -x "$RUN" ] || { echo "store_flush_run not built ($RUN)"; exit 1; }
it_setup store_flush

# ---- fixture: job 1 = generate -> verify with one done generate task and 8
# samples; 8 verify tasks waiting (task 101.. for samples 1..8)
sql "INSERT INTO items (id, dataset, kind, question, record, content_hash)
     VALUES (1, 'd', 'mcq', 'q1', '{\"question\": \"q1\"}', 'h1'),
            (2, 'd', 'mcq', 'q2', '{\"question\": \"q2\"}', 'h2'),
            (3, 'd', 'mcq', 'q3', '{\"question\": \"q3\"}', 'h3');
     SELECT setval('items_id_seq', 100);
     INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES (1, 'j1', 'd', '{}', 'x'),
            (2, 'j2', 'd', '{}', 'y');
     SELECT setval('jobs_id_seq', 100);
     INSERT INTO job_items (job_id, item_id, seq) VALUES (1, 1, 1), (2, 2, 2), (2, 3, 3);
     INSERT INTO stages (id, job_id, idx, name, kind, params, claimed_seq)
     VALUES (1, 1, 0, 'answer', 'generate', '{}', 1), (2, 1, 1, 'check', 'verify', '{}', 0),
            (3, 2, 0, 'answer', 'generate', '{\"endpoint\": \"none\"}', 0);
     SELECT setval('stages_id_seq', 100);
     INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt)
     VALUES (1, 1, 1, 1, 'generate', 'done', 1);
     INSERT INTO samples (id, task_id, job_id, stage_id, item_id, idx, answer)
     SELECT g, 1, 1, 1, 1, g, 'A' FROM generate_series(1, 8) g;
     INSERT INTO tasks (id, job_id, stage_id, item_id, kind, input)
     SELECT 100 + g, 1, 2, 1, 'verify', jsonb_build_object('sample_id', g) FROM generate_series(1, 8) g;
     SELECT setval('tasks_id_seq', 1000);" >/dev/null

# ---- 1. lost_score
# the failures of the dead worker's tasks take a while to write (20 ms a row),
# so the late result always arrives while that statement runs
sql "CREATE FUNCTION slow_requeue() RETURNS trigger LANGUAGE plpgsql AS
       \$\$BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END\$\$;
     CREATE TRIGGER slow_requeue BEFORE UPDATE ON tasks FOR EACH ROW
       WHEN (NEW.last_error LIKE 'worker % lost%') EXECUTE FUNCTION slow_requeue();" >/dev/null
"$RUN" lost_score 1 >"$IT_TMP/lost_score.out" 2>"$IT_TMP/lost_score.log" ||
  fail "lost_score scenario failed: $(cat "$IT_TMP/lost_score.out" "$IT_TMP/lost_score.log")"
cat "$IT_TMP/lost_score.out"
sql "DROP TRIGGER slow_requeue ON tasks" >/dev/null
done_tasks=$(sql "SELECT count(*) FROM tasks WHERE stage_id = 2 AND state = 'done'")
with_output=$(sql "SELECT count(*) FROM tasks t JOIN task_outputs o ON o.task_id = t.id WHERE t.stage_id = 2 AND t.state = 'done'")
scores=$(sql "SELECT count(*) FROM scores s JOIN tasks t ON t.id = s.task_id WHERE t.stage_id = 2")
missing=$(sql "SELECT coalesce(string_agg(t.id::text, ','), '') FROM tasks t WHERE t.stage_id = 2 AND t.state = 'done'
               AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.task_id = t.id)")
requeued=$(sql "SELECT count(*) FROM tasks WHERE stage_id = 2 AND state = 'pending' AND attempt = 1
                AND last_error LIKE 'worker w-dead lost%' AND worker_deaths = 1")
echo "verify done=$done_tasks with_output=$with_output scores=$scores requeued=$requeued"
[ "$done_tasks" -eq 2 ] && [ "$with_output" -eq 2 ] || fail "expected 2 done verify tasks with outputs, got $done_tasks / $with_output"
[ "$scores" -eq 2 ] || fail "done verify tasks without their score row: $missing ($scores scores for $done_tasks done tasks)"
[ "$requeued" -eq 6 ] || fail "expected the dead worker's 6 tasks pending again with one death each, got $requeued"

# ---- 2. ignored results, by reason
sql "INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt, input)
     VALUES (201, 1, 2, 1, 'verify', 'done', 1, '{\"sample_id\": 1}'),
            (202, 1, 2, 1, 'verify', 'leased', 3, '{\"sample_id\": 2}'),
            (203, 1, 2, 1, 'verify', 'dead', 1, '{\"sample_id\": 3}'),
            (204, 1, 2, 1, 'verify', 'done', 1, '{\"sample_id\": 4}')" >/dev/null
out=$("$RUN" ignored 1) || fail "ignored scenario failed: $out"
echo "$out"
for want in stored=0 ignored=5 stale_attempt=1 duplicate=1 replayed=1 task_ended=1 unknown_task=1 other=0; do
  echo "$out" | grep -qw -- "$want" || fail "ignored results: expected $want in: $out"
done
[ "$(sql "SELECT state || ' ' || attempt FROM tasks WHERE id = 202")" = "leased 3" ] ||
  fail "a stale result changed task 202"

# ---- 3. poison: job 2, two first-stage generate tasks claimed from job_items
"$RUN" poison 2 >"$IT_TMP/poison.out" 2>"$IT_TMP/poison.log" ||
  fail "poison scenario failed: $(cat "$IT_TMP/poison.out" "$IT_TMP/poison.log")"
cat "$IT_TMP/poison.out"
grep -q "poisoned=1" "$IT_TMP/poison.out" || fail "expected one task made dead as poison: $(cat "$IT_TMP/poison.out")"
first=$(sql "SELECT state || '|' || attempt || '|' || worker_deaths || '|' || last_error FROM tasks WHERE stage_id = 3 AND item_id = 2")
second=$(sql "SELECT state || '|' || attempt || '|' || worker_deaths FROM tasks WHERE stage_id = 3 AND item_id = 3")
echo "first: $first"
echo "second: $second"
case "$first" in
  "dead|2|2|worker died running this task (possible poison input)"*) ;;
  *) fail "the task whose worker died twice is not dead as poison: $first" ;;
esac
[ "$second" = "pending|2|0" ] || fail "a task handed back twice by draining workers changed wrongly: $second"
reason=$(sql "SELECT reason || '|' || dead FROM report_failures WHERE job_id = 2 AND dead > 0")
[ "$reason" = "worker died running this task (possible poison input)|1" ] ||
  fail "report_failures does not show the poison task: $reason"
"$BIN/assay" retry 2 --list >"$IT_TMP/retry.out" 2>&1 || fail "assay retry --list failed: $(cat "$IT_TMP/retry.out")"
grep -q "possible poison input" "$IT_TMP/retry.out" || fail "assay retry --list does not show the reason: $(cat "$IT_TMP/retry.out")"
# ---- 5. a task that reports before its lease is written is not claimed again
# by the same pass (it ran twice, and its second result was counted as ignored)
sql "INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES (5, 'j5', 'd', '{}', 'w');
     INSERT INTO stages (id, job_id, idx, name, kind, params, claimed_seq)
     VALUES (6, 5, 0, 'answer', 'generate', '{}', 1), (7, 5, 1, 'check', 'verify', '{}', 0);
     INSERT INTO tasks (id, job_id, stage_id, item_id, kind, input)
     VALUES (501, 5, 7, 1, 'verify', '{\"sample_id\": 5}'), (502, 5, 7, 1, 'verify', '{\"sample_id\": 6}');
     CREATE TRIGGER slow_requeue BEFORE UPDATE ON tasks FOR EACH ROW
       WHEN (NEW.last_error LIKE 'worker % lost%') EXECUTE FUNCTION slow_requeue();" >/dev/null
out=$("$RUN" reclaim 5 2>&1) || fail "reclaim scenario failed: $out"
sql "DROP TRIGGER slow_requeue ON tasks" >/dev/null
echo "$out"
echo "$out" | grep -qw "reclaimed=0" || fail "a task that had reported was claimed again: $out"
[ "$(sql "SELECT state || ' ' || attempt FROM tasks WHERE id = 502")" = "done 1" ] ||
  fail "task 502: $(sql "SELECT state || ' ' || attempt FROM tasks WHERE id = 502")"

# ---- 4. a late generate result is not stored, but the samples it paid for reach
# the response cache, and the task's next claim carries them (nothing is paid twice)
sql "INSERT INTO jobs (id, name, dataset, spec, spec_hash) VALUES (3, 'j3', 'd', '{}', 'z');
     INSERT INTO stages (id, job_id, idx, name, kind, params, claimed_seq)
     VALUES (4, 3, 0, 'answer', 'generate', '{\"endpoint\": \"sim\", \"n\": 2}', 0);
     INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt, lease_expires)
     VALUES (301, 3, 4, 1, 'generate', 'leased', 2, now() + interval '1 hour')" >/dev/null
out=$("$RUN" stale_samples 3) || fail "stale_samples scenario failed: $out"
echo "$out"
echo "$out" | grep -qw "stored=0" && echo "$out" | grep -qw "stale_attempt=1" || fail "the late result was not ignored as stale: $out"
[ "$(sql "SELECT count(*) FROM samples WHERE task_id = 301")" = 0 ] || fail "a stale result stored samples"
cached=$(sql "SELECT count(*) FROM llm_cache WHERE key IN ('k-301-0', 'k-301-1')")
[ "$cached" = 2 ] || fail "the late result's 2 paid samples are not in llm_cache ($cached)"
# the attempt that was running is lost too: the task is pending again
sql "UPDATE tasks SET state = 'pending', lease_expires = NULL WHERE id = 301" >/dev/null
out=$("$RUN" claim_input 3) || fail "claim_input failed: $out"
echo "$out" | cut -c1-200
n=$(echo "$out" | sed -n 's/^task=301 attempt=3 input=//p' | jq '.cached | length')
[ "$n" = 2 ] || fail "the retry of task 301 does not carry the 2 cached samples: $out"

echo "PASS store_flush"
