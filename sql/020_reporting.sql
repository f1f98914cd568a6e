-- 020_reporting.sql: read-only reporting views for analysts (and `assay report`),
-- and the role assay_reporting that may query these views and nothing else.
--
-- Every view is computed from the system of record at query time (no materialised
-- state to keep in sync). Views run with their owner's rights, so the reporting role
-- needs SELECT on the views only, never on the tables behind them.

-- ------------------------------------------------------------------ job funnel

CREATE VIEW report_jobs AS
SELECT id AS job_id, name, dataset, state, weight, priority, spec_hash, created_at, finished_at
FROM jobs;
COMMENT ON VIEW report_jobs IS 'Jobs without their specs: id, name, dataset, state, weight, priority, spec hash, when created and finished.';

CREATE VIEW report_difficulty AS
SELECT r.job_id, s.name AS stage, r.round, r.item_id, i.ext_id, i.category, r.samples, r.passed,
       r.pass_rate, r.kept, r.created_at
FROM item_rounds r JOIN stages s ON s.id = r.stage_id JOIN items i ON i.id = r.item_id;
COMMENT ON VIEW report_difficulty IS 'Difficulty filtering decisions: per item and filter stage (round), samples scored, passed, pass rate and whether the item went on. Items that fell out stay here.';

CREATE VIEW report_job_funnel AS
SELECT s.job_id, s.idx AS stage_idx, s.name AS stage, s.kind, s.round,
       (SELECT count(*) FROM job_items ji WHERE ji.job_id = s.job_id) AS job_items,
       count(DISTINCT t.item_id)                                   AS items_in,
       count(DISTINCT t.item_id) FILTER (WHERE t.state = 'done')   AS items_done,
       count(t.id)                                                 AS tasks,
       count(t.id) FILTER (WHERE t.state = 'done')                 AS done,
       count(t.id) FILTER (WHERE t.state = 'dead')                 AS dead,
       count(t.id) FILTER (WHERE t.state = 'cancelled')            AS cancelled,
       count(t.id) FILTER (WHERE t.state IN ('pending', 'leased')) AS open,
       (SELECT count(*) FROM samples sa WHERE sa.stage_id = s.id)  AS samples
FROM stages s LEFT JOIN tasks t ON t.stage_id = s.id
GROUP BY s.id, s.job_id, s.idx, s.name, s.kind, s.round;
COMMENT ON VIEW report_job_funnel IS 'Job funnel: for every stage of every job, in pipeline order, how many of the job''s items reached the stage (items_in), how many came out of it done (items_done), task counts by outcome and samples written. items_done / job_items is the share of the job that got through the stage.';

-- ------------------------------------------------------------ pass rates

CREATE VIEW report_pass_rate AS
SELECT sa.job_id, st.round, sa.item_id,
       count(*)                                   AS samples,
       count(*) FILTER (WHERE v.passed)           AS passed,
       count(*) FILTER (WHERE v.passed)::double precision / count(*) AS pass_rate
FROM samples sa
JOIN stages st ON st.id = sa.stage_id
JOIN LATERAL (
    SELECT coalesce(assay_jbool(sc.detail -> 'correct'), sc.value >= 0.5) AS passed
    FROM scores sc WHERE sc.sample_id = sa.id AND sc.scorer = 'verify'
) v ON v.passed IS NOT NULL
GROUP BY sa.job_id, st.round, sa.item_id;
COMMENT ON VIEW report_pass_rate IS 'Per job, round and item: the share of the item''s verified samples that passed the rule verifier. A sample passes when its verify score says correct (detail.correct), or, when the score carries no verdict, when value >= 0.5. Samples without a verify score are left out; the round is that of the stage that generated the sample.';

CREATE VIEW report_pass_rate_histogram AS
SELECT p.job_id, p.round, b.bucket,
       round(b.bucket / 10.0, 1) AS lo, round((b.bucket + 1) / 10.0, 1) AS hi,
       count(*) AS items
FROM report_pass_rate p
CROSS JOIN LATERAL (SELECT least(floor(p.pass_rate * 10)::integer, 9) AS bucket) b
GROUP BY p.job_id, p.round, b.bucket;
COMMENT ON VIEW report_pass_rate_histogram IS 'Pass-rate distribution per job and round: items counted in ten buckets of width 0.1, bucket k holding lo <= pass_rate < hi (the last bucket includes 1.0). Empty buckets have no row. Difficulty filtering keeps the middle buckets: bucket 0 is too hard, bucket 9 too easy.';

-- ------------------------------------------------------------------- mix

CREATE VIEW report_item_mix AS
SELECT i.dataset, d.dimension, d.value, count(*) AS items,
       count(*)::double precision
         / (SELECT count(*) FROM items x WHERE x.dataset = i.dataset) AS share
FROM items i
CROSS JOIN LATERAL (
    SELECT 'category'::text AS dimension, coalesce(i.category, '(none)') AS value
    UNION ALL
    SELECT 'intent', coalesce(assay_jtext(i.record -> 'intent'), '(none)')
    UNION ALL
    SELECT 'tag', tag FROM unnest(i.tags) AS tag
) d
GROUP BY i.dataset, d.dimension, d.value;
COMMENT ON VIEW report_item_mix IS 'Category, intent and tag mix of the imported items per dataset: one row per (dataset, dimension, value). share = items / items in the dataset; tag shares may add up to more than 1 (an item has several tags), category and intent shares add up to 1 ((none) when missing).';

CREATE VIEW report_dataset_mix AS
WITH rows_of AS (
    SELECT d.id AS dataset_id, d.name AS dataset, d.job_id, sa.item_id
    FROM datasets d
    JOIN stages st ON st.job_id = d.job_id AND st.name = d.lineage ->> 'stage'
    JOIN samples sa ON sa.stage_id = st.id
    WHERE d.format = 'samples'
    UNION ALL
    SELECT d.id, d.name, d.job_id, o.item_id
    FROM datasets d
    JOIN stages st ON st.job_id = d.job_id AND st.name = d.lineage ->> 'stage'
    JOIN task_outputs o ON o.stage_id = st.id
    WHERE d.format = 'outputs'
)
SELECT r.dataset_id, r.dataset, r.job_id, x.dimension, x.value, count(*) AS rows,
       count(*)::double precision
         / (SELECT count(*) FROM rows_of y WHERE y.dataset_id = r.dataset_id) AS share
FROM rows_of r
JOIN items i ON i.id = r.item_id
CROSS JOIN LATERAL (
    SELECT 'category'::text AS dimension, coalesce(i.category, '(none)') AS value
    UNION ALL
    SELECT 'intent', coalesce(assay_jtext(i.record -> 'intent'), '(none)')
    UNION ALL
    SELECT 'tag', tag FROM unnest(i.tags) AS tag
) x
GROUP BY r.dataset_id, r.dataset, r.job_id, x.dimension, x.value;
COMMENT ON VIEW report_dataset_mix IS 'Category, intent and tag mix of exported datasets (assay export, table datasets): rows of the exported stage (samples or task outputs) counted by their item''s category, intent and tags. share = rows / rows of the dataset. Reflects the current rows of that stage, which equal the export when the job was finished at export time.';

-- ------------------------------------------------------------------ spend

CREATE VIEW report_spend AS
SELECT date_trunc('day', sa.created_at)::date AS day, sa.job_id,
       coalesce(sa.endpoint, '(none)') AS endpoint, coalesce(sa.model, '(none)') AS model,
       count(*)                               AS samples,
       count(*) FILTER (WHERE sa.cached)      AS cached,
       coalesce(sum(sa.prompt_tokens), 0)     AS prompt_tokens,
       coalesce(sum(sa.completion_tokens), 0) AS completion_tokens,
       coalesce(sum(sa.reasoning_tokens), 0)  AS reasoning_tokens,
       coalesce(sum(sa.cost_usd), 0)          AS cost_usd
FROM samples sa
GROUP BY 1, sa.job_id, 3, 4;
COMMENT ON VIEW report_spend IS 'Token spend and cost (USD, from the endpoints'' configured prices; cache hits cost 0) per UTC day, job, endpoint and model. Sum over the columns you do not need: per endpoint, per job, per day.';

-- ----------------------------------------------------- throughput, latency

CREATE VIEW report_task_latency AS
SELECT t.job_id, t.kind, CASE WHEN grouping(t.worker) = 0 THEN coalesce(t.worker, '(none)') END AS worker,
       count(*) AS done,
       min(t.started_at) AS first_started, max(t.finished_at) AS last_finished,
       count(*) / greatest(extract(epoch FROM max(t.finished_at) - min(t.started_at)), 0.001)
         AS per_second,
       avg(t.elapsed_ms) AS mean_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.elapsed_ms)  AS p50_ms,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY t.elapsed_ms)  AS p90_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY t.elapsed_ms) AS p99_ms,
       max(t.elapsed_ms) AS max_ms
FROM tasks t
WHERE t.state = 'done'
GROUP BY GROUPING SETS ((t.job_id, t.kind, t.worker), (t.job_id, t.kind));
COMMENT ON VIEW report_task_latency IS 'Throughput and handler latency of done tasks per job, task kind and worker, plus one row per job and kind over all workers (worker IS NULL). per_second = done / (last finish - first start); latencies are the handler time of the finishing attempt (tasks.elapsed_ms), percentiles interpolated.';

CREATE VIEW report_throughput AS
SELECT t.job_id, t.kind, date_trunc('minute', t.finished_at) AS minute, count(*) AS done
FROM tasks t
WHERE t.state = 'done' AND t.finished_at IS NOT NULL
GROUP BY t.job_id, t.kind, 3;
COMMENT ON VIEW report_throughput IS 'Done tasks per job, kind and minute of finishing: throughput over time.';

-- --------------------------------------------------------- retries, dead

CREATE VIEW report_failures AS
SELECT t.job_id, st.name AS stage, t.kind,
       coalesce(nullif(btrim(split_part(t.last_error, ':', 1)), ''), '(no reason)') AS reason,
       count(*)                                              AS tasks,
       count(*) FILTER (WHERE t.state = 'dead')              AS dead,
       count(*) FILTER (WHERE t.state = 'done')              AS recovered,
       count(*) FILTER (WHERE t.state IN ('pending', 'leased')) AS retrying,
       sum(greatest(t.attempt - 1, 0))                       AS extra_attempts,
       min(t.last_error)                                     AS example
FROM tasks t JOIN stages st ON st.id = t.stage_id
WHERE t.state = 'dead' OR t.attempt > 1
GROUP BY t.job_id, st.name, t.kind, 4;
COMMENT ON VIEW report_failures IS 'Tasks that failed at least once (attempt > 1) or died, by job, stage, kind and reason. reason = the text of last_error before its first colon (the error class, e.g. "could not connect to endpoint"), example = one full message. recovered = done after retries, retrying = still pending or leased, extra_attempts = attempts beyond the first.';

-- ------------------------------------------------------------ leak removal

CREATE VIEW report_leak_removal AS
SELECT o.job_id, st.name AS stage,
       count(*) AS cases,
       count(*) FILTER (WHERE jsonb_array_length(r.removed) > 0)  AS cases_with_removals,
       sum(jsonb_array_length(r.removed))                        AS spans_removed,
       avg(jsonb_array_length(r.removed))                        AS spans_per_case,
       count(*) FILTER (WHERE assay_jbool(o.output -> 'residual_flagged')) AS residual_flagged,
       avg(assay_jnum(o.output -> 'residual_leak'))              AS residual_leak_mean,
       max(assay_jnum(o.output -> 'residual_leak'))              AS residual_leak_max
FROM task_outputs o
JOIN stages st ON st.id = o.stage_id AND st.kind = 'leak_removal'
CROSS JOIN LATERAL (
    SELECT CASE WHEN jsonb_typeof(o.output -> 'removed') = 'array'
                THEN o.output -> 'removed' ELSE '[]'::jsonb END AS removed
) r
GROUP BY o.job_id, st.name;
COMMENT ON VIEW report_leak_removal IS 'Leak removal per job and stage: cases cleaned, how many had answer-revealing spans removed and how many spans, and the residual leak score after removal (residual_flagged = still leaking above the threshold).';

CREATE VIEW report_leak_reasons AS
SELECT o.job_id, st.name AS stage,
       coalesce(assay_jtext(e -> 'reason'), '(none)') AS reason,
       count(*) AS spans, count(DISTINCT o.task_id) AS cases
FROM task_outputs o
JOIN stages st ON st.id = o.stage_id AND st.kind = 'leak_removal'
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(o.output -> 'removed') = 'array'
         THEN o.output -> 'removed' ELSE '[]'::jsonb END) AS e
GROUP BY o.job_id, st.name, 3;
COMMENT ON VIEW report_leak_reasons IS 'Removed leak spans per job, stage and removal reason (diagnosis named, code given, treatment that implies the diagnosis, ...), with the number of cases they came from.';

-- ----------------------------------------------------------------- scores

CREATE VIEW report_score_distribution AS
SELECT sc.job_id, sc.scorer, b.bucket,
       round(b.bucket / 10.0, 1) AS lo, round((b.bucket + 1) / 10.0, 1) AS hi,
       count(*) AS scores
FROM scores sc
CROSS JOIN LATERAL (SELECT least(floor(sc.value * 10)::integer, 9) AS bucket) b
WHERE sc.value IS NOT NULL
GROUP BY sc.job_id, sc.scorer, b.bucket;
COMMENT ON VIEW report_score_distribution IS 'Score distribution per job and scorer (verify, outcome, process, consistency, pref_*, hack_*): scores counted in ten buckets of width 0.1 (lo <= value < hi, the last bucket includes 1.0). Empty buckets have no row.';

CREATE VIEW report_score_summary AS
SELECT sc.job_id, sc.scorer, count(*) AS scores, count(sc.value) AS valued,
       avg(sc.value) AS mean, min(sc.value) AS min,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY sc.value) AS median,
       max(sc.value) AS max
FROM scores sc
GROUP BY sc.job_id, sc.scorer;
COMMENT ON VIEW report_score_summary IS 'Per job and scorer: score rows, rows with a value, mean, min, median and max of the value.';

-- ------------------------------------------------------------ reporting role

-- Roles are cluster-wide and several databases of one cluster may migrate at
-- once, so a concurrent creation is tolerated rather than checked twice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'assay_reporting') THEN
        BEGIN
            CREATE ROLE assay_reporting NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO assay_reporting', current_schema());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO assay_reporting', current_database());
END
$$;
GRANT SELECT ON job_progress, report_jobs, report_difficulty, report_job_funnel, report_pass_rate, report_pass_rate_histogram,
    report_item_mix, report_dataset_mix, report_spend, report_task_latency, report_throughput,
    report_failures, report_leak_removal, report_leak_reasons, report_score_distribution,
    report_score_summary TO assay_reporting;
