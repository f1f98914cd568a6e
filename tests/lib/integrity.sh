# tests/lib/integrity.sh: every row a pipeline job writes, checked from SQL
# (sourced by tests/fault/chaos.sh and tests/fault/multihost.sh; needs their
# `sql` function). The job runs generate (NSAMPLES per item) -> verify -> filter,
# optionally followed by one more stage for the items the filter keeps.
#
#   integrity_check JOB NSAMPLES
#
# sets, and prints as one line:
#   lost          tasks not done, items without a done generate task, samples
#                 without a done verify task, items without a filter decision,
#                 kept items without a done task in the stage after the filter,
#                 done tasks without their output row
#   duplicated    output rows beyond one per task, items or samples with more
#                 than one task in a stage, tasks after the filter for items it
#                 did not keep
#   scores_lost   done verify tasks without exactly one score row (for their
#                 sample), score rows of tasks that are not done
#   samples_lost  done generate tasks without exactly the samples of their output
#                 (and NSAMPLES of them), samples of tasks that are not done
#   filter_mismatch  filter decisions whose sample count is not the number of
#                 the item's scores
integrity_check() {
  local job=$1 nsamples=$2
  local gen ver fil aft
  gen=$(sql "SELECT id FROM stages WHERE job_id = $job AND kind = 'generate' ORDER BY idx LIMIT 1")
  ver=$(sql "SELECT id FROM stages WHERE job_id = $job AND kind = 'verify' ORDER BY idx LIMIT 1")
  fil=$(sql "SELECT id FROM stages WHERE job_id = $job AND kind = 'filter' ORDER BY idx LIMIT 1")
  aft=$(sql "SELECT coalesce((SELECT n.id FROM stages f JOIN stages n ON n.job_id = f.job_id AND n.idx = f.idx + 1
                              WHERE f.id = $fil), 0)")
  local not_done gen_missing gen_dup ver_missing ver_dup fil_missing aft_missing aft_extra aft_dup
  local no_output dup_outputs sc_bad sc_stray sm_bad sm_short sm_stray
  not_done=$(sql "SELECT count(*) FROM tasks WHERE job_id = $job AND state <> 'done'")
  gen_missing=$(sql "SELECT count(*) FROM job_items ji WHERE ji.job_id = $job AND NOT EXISTS
                     (SELECT 1 FROM tasks t WHERE t.stage_id = $gen AND t.item_id = ji.item_id AND t.state = 'done')")
  gen_dup=$(sql "SELECT count(*) FROM (SELECT item_id FROM tasks WHERE stage_id = $gen GROUP BY item_id HAVING count(*) > 1) d")
  # (the per-sample checks join aggregates, so Postgres hashes instead of looping)
  ver_missing=$(sql "SELECT count(*) FROM samples s LEFT JOIN
                     (SELECT DISTINCT (input->>'sample_id')::bigint AS sid FROM tasks
                      WHERE stage_id = $ver AND state = 'done') v ON v.sid = s.id
                     WHERE s.stage_id = $gen AND v.sid IS NULL")
  ver_dup=$(sql "SELECT count(*) FROM (SELECT input->>'sample_id' FROM tasks WHERE stage_id = $ver
                 GROUP BY 1 HAVING count(*) > 1) d")
  fil_missing=$(sql "SELECT count(*) FROM job_items ji WHERE ji.job_id = $job AND NOT EXISTS
                     (SELECT 1 FROM item_rounds r WHERE r.stage_id = $fil AND r.item_id = ji.item_id)")
  aft_missing=$(sql "SELECT CASE WHEN $aft = 0 THEN 0 ELSE (SELECT count(*) FROM item_rounds r
                     WHERE r.stage_id = $fil AND r.kept AND NOT EXISTS
                     (SELECT 1 FROM tasks t WHERE t.stage_id = $aft AND t.item_id = r.item_id AND t.state = 'done')) END")
  aft_extra=$(sql "SELECT count(*) FROM tasks t WHERE t.stage_id = $aft AND NOT EXISTS
                   (SELECT 1 FROM item_rounds r WHERE r.stage_id = $fil AND r.item_id = t.item_id AND r.kept)")
  aft_dup=$(sql "SELECT count(*) FROM (SELECT item_id FROM tasks WHERE stage_id = $aft GROUP BY item_id HAVING count(*) > 1) d")
  no_output=$(sql "SELECT count(*) FROM tasks t WHERE t.job_id = $job AND t.state = 'done' AND t.kind <> 'filter'
                   AND NOT EXISTS (SELECT 1 FROM task_outputs o WHERE o.task_id = t.id)")
  dup_outputs=$(sql "SELECT count(*) - count(DISTINCT task_id) FROM task_outputs WHERE job_id = $job")
  sc_bad=$(sql "SELECT count(*) FROM tasks t LEFT JOIN
                (SELECT task_id, sample_id, count(*) AS n FROM scores WHERE job_id = $job GROUP BY 1, 2) s
                ON s.task_id = t.id AND s.sample_id = (t.input->>'sample_id')::bigint
                WHERE t.stage_id = $ver AND t.state = 'done' AND coalesce(s.n, 0) <> 1")
  sc_stray=$(sql "SELECT count(*) FROM scores s WHERE s.job_id = $job AND NOT EXISTS
                  (SELECT 1 FROM tasks t WHERE t.id = s.task_id AND t.state = 'done')")
  sm_bad=$(sql "SELECT count(*) FROM tasks t JOIN task_outputs o ON o.task_id = t.id LEFT JOIN
                (SELECT task_id, count(*) AS n FROM samples WHERE job_id = $job GROUP BY 1) s ON s.task_id = t.id
                WHERE t.stage_id = $gen AND t.state = 'done'
                AND coalesce(s.n, 0) <> jsonb_array_length(o.output->'samples')")
  sm_short=$(sql "SELECT count(*) FROM tasks t LEFT JOIN
                  (SELECT task_id, count(*) AS n FROM samples WHERE job_id = $job GROUP BY 1) s ON s.task_id = t.id
                  WHERE t.stage_id = $gen AND t.state = 'done' AND coalesce(s.n, 0) <> $nsamples")
  sm_stray=$(sql "SELECT count(*) FROM samples s WHERE s.job_id = $job AND NOT EXISTS
                  (SELECT 1 FROM tasks t WHERE t.id = s.task_id AND t.state = 'done')")
  filter_mismatch=$(sql "SELECT count(*) FROM item_rounds r LEFT JOIN
                         (SELECT vt.item_id, count(*) AS n FROM scores sc JOIN tasks vt ON vt.id = sc.task_id
                          WHERE vt.stage_id = $ver GROUP BY 1) c ON c.item_id = r.item_id
                         WHERE r.stage_id = $fil AND r.samples <> coalesce(c.n, 0)")
  lost=$((not_done + gen_missing + ver_missing + fil_missing + aft_missing + no_output))
  duplicated=$((gen_dup + ver_dup + aft_dup + aft_extra + dup_outputs))
  scores_lost=$((sc_bad + sc_stray))
  samples_lost=$((sm_bad + sm_short + sm_stray))
  echo "not_done=$not_done no_generate=$gen_missing no_verify=$ver_missing no_decision=$fil_missing kept_without_task=$aft_missing no_output=$no_output filter_mismatch=$filter_mismatch"
  echo "lost=$lost duplicated=$duplicated scores_lost=$scores_lost samples_lost=$samples_lost"
}
