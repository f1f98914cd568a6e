-- 070_report_fixes.sql: reporting that holds up on real data.
--
--   - report_item_mix / report_dataset_mix read the intent from "intent" or, as
--     the consumer health questions name it, "intent_label";
--   - report_dataset_mix counts the rows of every export format: `assay export`
--     records how many lines each item got (dataset_items), instead of the view
--     re-deriving the rows of the samples and outputs formats only;
--   - report_leak_reasons groups removed spans by the category of their removal
--     reason (gold diagnosis named, alias named, ICD code given, ...), not by the
--     reason text, which names the diagnosis and so has one row per diagnosis;
--   - report_stalled_stages names the stages that have runnable tasks while no
--     connected worker serves their kind, and report_failures lists them.

-- ------------------------------------------------------------ exported rows

CREATE TABLE dataset_items (
    dataset_id  bigint  NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    item_id     bigint  NOT NULL,
    rows        integer NOT NULL CHECK (rows > 0),
    PRIMARY KEY (dataset_id, item_id)
);
COMMENT ON TABLE dataset_items IS 'How many lines of an exported dataset (datasets) came from each item, written by assay export in the transaction that records the dataset, for every format. Datasets exported before this table existed have no rows here (their lineage lacks "items_recorded").';
GRANT SELECT, INSERT, UPDATE, DELETE ON dataset_items TO assay_operator;
COMMENT ON COLUMN datasets.lineage IS 'Where the export came from: job, stage, spec_hash, format, the --min-score / --min-margin it used (null when the format has none), template_hashes and terms_versions (the prompt templates and terminologies of the stage''s samples and scores), items_recorded (true: dataset_items holds its lines per item). Every exported line carries its own lineage too.';

-- ------------------------------------------------------------------- intent

CREATE FUNCTION assay_item_intent(record jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(assay_jtext(record -> 'intent'), ''),
                    nullif(assay_jtext(record -> 'intent_label'), ''), '(none)')
$$;
COMMENT ON FUNCTION assay_item_intent(jsonb) IS 'The intent of an imported item: its "intent" field, else its "intent_label" field (the consumer health questions'' name for it), else (none).';

CREATE OR REPLACE VIEW report_item_mix AS
SELECT i.dataset, d.dimension, d.value, count(*) AS items,
       count(*)::double precision
         / (SELECT count(*) FROM items x WHERE x.dataset = i.dataset) AS share
FROM items i
CROSS JOIN LATERAL (
    SELECT 'category'::text AS dimension, coalesce(i.category, '(none)') AS value
    UNION ALL
    SELECT 'intent', assay_item_intent(i.record)
    UNION ALL
    SELECT 'tag', tag FROM unnest(i.tags) AS tag
) d
GROUP BY i.dataset, d.dimension, d.value;
COMMENT ON VIEW report_item_mix IS 'Category, intent and tag mix of the imported items per dataset: one row per (dataset, dimension, value). The intent is the item''s "intent" field, else its "intent_label" field. share = items / items in the dataset; tag shares may add up to more than 1 (an item has several tags), category and intent shares add up to 1 ((none) when missing).';

CREATE OR REPLACE VIEW report_dataset_mix AS
WITH rows_of AS (
    SELECT d.id AS dataset_id, d.name AS dataset, d.job_id, di.item_id, di.rows
    FROM datasets d JOIN dataset_items di ON di.dataset_id = d.id
    UNION ALL
    -- exports recorded before dataset_items: the current rows of the stage
    SELECT d.id, d.name, d.job_id, sa.item_id, 1
    FROM datasets d
    JOIN stages st ON st.job_id = d.job_id AND st.name = d.lineage ->> 'stage'
    JOIN samples sa ON sa.stage_id = st.id
    WHERE d.format = 'samples' AND NOT d.lineage ? 'items_recorded'
    UNION ALL
    SELECT d.id, d.name, d.job_id, o.item_id, 1
    FROM datasets d
    JOIN stages st ON st.job_id = d.job_id AND st.name = d.lineage ->> 'stage'
    JOIN task_outputs o ON o.stage_id = st.id
    WHERE d.format = 'outputs' AND NOT d.lineage ? 'items_recorded'
)
SELECT r.dataset_id, r.dataset, r.job_id, x.dimension, x.value, sum(r.rows) AS rows,
       sum(r.rows)::double precision
         / (SELECT sum(y.rows) FROM rows_of y WHERE y.dataset_id = r.dataset_id) AS share,
       d.format
FROM rows_of r
JOIN datasets d ON d.id = r.dataset_id
JOIN items i ON i.id = r.item_id
CROSS JOIN LATERAL (
    SELECT 'category'::text AS dimension, coalesce(i.category, '(none)') AS value
    UNION ALL
    SELECT 'intent', assay_item_intent(i.record)
    UNION ALL
    SELECT 'tag', tag FROM unnest(i.tags) AS tag
) x
GROUP BY r.dataset_id, r.dataset, r.job_id, x.dimension, x.value, d.format;
COMMENT ON VIEW report_dataset_mix IS 'Category, intent and tag mix of exported datasets (assay export, table datasets), for every format: the exported lines counted by their item''s category, intent ("intent", else "intent_label") and tags, from the per-item line counts the export recorded (dataset_items). share = rows / rows of the dataset. Datasets exported before dataset_items existed are counted from the current rows of their stage (samples and outputs formats only).';

-- ------------------------------------------------------------- leak reasons

-- The reasons worker/leak.c writes into its audit (s_term_reason, s_audit) name
-- the matched text and the diagnosis, so there is one distinct reason per
-- diagnosis. Their category is the fixed part of the phrase.
CREATE FUNCTION assay_leak_reason_category(reason text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN reason IS NULL OR btrim(reason) = '' THEN '(none)'
        WHEN reason LIKE 'names the gold diagnosis%' THEN 'gold diagnosis named'
        WHEN reason LIKE 'gives the ICD code%' THEN 'ICD code given'
        WHEN reason ~ '^names “[^”]*”, a treatment specific' THEN 'treatment specific to the diagnosis named'
        WHEN reason ~ '^names “[^”]*” \((alias of|standard name of|alias\))' THEN 'alias of the diagnosis named'
        WHEN reason ~ '^names “[^”]*” \((parent of|child of|head of|related\))' THEN 'related disease named'
        WHEN reason LIKE 'near mention of the gold%' THEN 'near mention of the gold diagnosis'
        WHEN reason LIKE 'states a diagnosis close to the gold%' THEN 'diagnosis close to the gold stated'
        WHEN reason ~ '^section .* states the conclusion or its management' THEN 'section stating the conclusion or its management'
        WHEN reason LIKE 'label left without its content%' THEN 'label left without its content'
        WHEN reason LIKE 'header of a section whose content was all removed%' THEN 'header of an emptied section'
        -- a phrase this list does not know: without its quoted names, parenthesised
        -- notes and numbers, so it still groups
        ELSE coalesce(nullif(btrim(regexp_replace(regexp_replace(regexp_replace(reason,
                 '“[^”]*”', '“…”', 'g'), '\s*\([^)]*\)', '', 'g'), '[0-9]+(\.[0-9]+)?', 'N', 'g')), ''),
                 '(none)')
    END
$$;
COMMENT ON FUNCTION assay_leak_reason_category(text) IS 'The category of a leak-removal reason (worker/leak.c audit): gold diagnosis named, alias of the diagnosis named, related disease named, ICD code given, treatment specific to the diagnosis named, near mention of the gold diagnosis, diagnosis close to the gold stated, section stating the conclusion or its management, label left without its content, header of an emptied section; another phrase without its quoted names, notes and numbers.';

CREATE OR REPLACE VIEW report_leak_reasons AS
SELECT o.job_id, st.name AS stage,
       assay_leak_reason_category(assay_jtext(e -> 'reason')) AS reason,
       count(*) AS spans, count(DISTINCT o.task_id) AS cases,
       count(DISTINCT assay_jtext(e -> 'reason')) AS distinct_reasons,
       min(assay_jtext(e -> 'reason')) AS example
FROM task_outputs o
JOIN stages st ON st.id = o.stage_id AND st.kind = 'leak_removal'
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(o.output -> 'removed') = 'array'
         THEN o.output -> 'removed' ELSE '[]'::jsonb END) AS e
GROUP BY o.job_id, st.name, 3;
COMMENT ON VIEW report_leak_reasons IS 'Removed leak spans per job, stage and removal reason category (assay_leak_reason_category: gold diagnosis named, alias named, ICD code given, treatment specific to the diagnosis, conclusion section, ...), with the number of cases they came from, how many distinct reason texts fell into the category and one of them as an example.';

-- --------------------------------------------------------------- stalled

CREATE VIEW report_stalled_stages AS
WITH served AS (
    SELECT DISTINCT k.key AS kind
    FROM workers w
    CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(w.slots) = 'object'
                                            THEN w.slots ELSE '{}'::jsonb END) k
    WHERE w.connected AND w.last_seen > now() - interval '30 seconds'
      AND k.value ~ '^[0-9]+$' AND k.value::numeric > 0
),
waiting AS (
    SELECT s.job_id, s.idx AS stage_idx, s.name AS stage, s.kind,
           p.n + u.n AS runnable, p.since
    FROM stages s
    JOIN jobs j ON j.id = s.job_id AND j.state = 'running'
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, min(t.not_before) AS since FROM tasks t
        WHERE t.job_id = s.job_id AND t.kind = s.kind AND t.stage_id = s.id
          AND t.state = 'pending' AND t.not_before <= now()) p
    CROSS JOIN LATERAL (
        SELECT CASE WHEN s.idx = 0 THEN (SELECT count(*) FROM job_items ji
                                         WHERE ji.job_id = s.job_id AND ji.seq > s.claimed_seq)
                    ELSE 0 END AS n) u
    WHERE s.kind <> 'filter'    -- filter stages run in the broker
)
SELECT w.job_id, w.stage_idx, w.stage, w.kind, w.runnable,
       coalesce(w.since, (SELECT j.created_at FROM jobs j WHERE j.id = w.job_id)) AS waiting_since
FROM waiting w
WHERE w.runnable > 0 AND w.kind NOT IN (SELECT kind FROM served);
COMMENT ON VIEW report_stalled_stages IS 'Stages of running jobs that have runnable tasks (pending and due, or first-stage items not claimed yet) while no up worker serves their kind: no worker that is connected, was heard from in the last 30 seconds (as `assay workers` counts "up") and has slots for the kind. Such a stage makes no progress until a worker with that kind connects; `assay status` names it and report_failures lists it.';

CREATE OR REPLACE VIEW report_failures AS
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
GROUP BY t.job_id, st.name, t.kind, 4
UNION ALL
SELECT s.job_id, s.stage, s.kind, 'stalled: no connected worker serves this kind',
       s.runnable, 0, 0, 0, 0,
       format('%s runnable tasks waiting since %s; no up worker has slots for %s (see assay workers)',
              s.runnable, to_char(s.waiting_since, 'YYYY-MM-DD HH24:MI:SS TZ'), s.kind)
FROM report_stalled_stages s;
COMMENT ON VIEW report_failures IS 'Tasks that failed at least once (attempt > 1) or died, by job, stage, kind and reason. reason = the text of last_error before its first colon (the error class, e.g. "could not connect to endpoint"), example = one full message. recovered = done after retries, retrying = still pending or leased, extra_attempts = attempts beyond the first. Plus one row per stalled stage (report_stalled_stages) with reason "stalled: no connected worker serves this kind" and tasks = its runnable tasks.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'assay_reporting') THEN
        GRANT SELECT ON report_stalled_stages TO assay_reporting;
    END IF;
END
$$;
