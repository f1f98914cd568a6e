-- 060_claim_cursor.sql: a job's first-stage tasks are created as they are claimed.
--
-- Before, the broker inserted one pending task per item when a job started, leased
-- it with a second write and finished it with a third. Now the broker claims a
-- job's items straight from job_items, in order, behind a cursor kept on the stage
-- (stages.claimed_seq, advanced in the claiming transaction). The task row is
-- written once, when its outcome is known: done with its result, or pending or
-- dead with its failure; a task still running after a moment is written as leased.
-- A broker that takes over writes a pending task for every item behind the cursor
-- that has no task (claimed by a broker that died before writing it).

ALTER TABLE job_items ADD COLUMN seq bigint;
ALTER TABLE job_items ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE SEQUENCE job_items_seq OWNED BY job_items.seq;
UPDATE job_items ji SET seq = o.seq, priority = o.priority
FROM (SELECT ji2.job_id, ji2.item_id, coalesce(assay_jint(i.record->'priority'), 0) AS priority,
             nextval('job_items_seq') AS seq
      FROM (SELECT * FROM job_items ORDER BY job_id, item_id) ji2
      JOIN items i ON i.id = ji2.item_id) o
WHERE ji.job_id = o.job_id AND ji.item_id = o.item_id;
ALTER TABLE job_items ALTER COLUMN seq SET DEFAULT nextval('job_items_seq');
ALTER TABLE job_items ALTER COLUMN seq SET NOT NULL;
ALTER TABLE job_items DROP CONSTRAINT job_items_pkey;
ALTER TABLE job_items ADD PRIMARY KEY (job_id, seq);
COMMENT ON COLUMN job_items.seq IS 'Claim order of the item within its job: `assay submit` numbers a job''s items by item priority (higher first), then item id. The broker claims first-stage work in this order.';
COMMENT ON COLUMN job_items.priority IS 'The item''s "priority" field (default 0), copied here at submit so claiming needs no look at the item.';

ALTER TABLE stages ADD COLUMN claimed_seq bigint NOT NULL DEFAULT 0;
UPDATE stages s SET claimed_seq = coalesce((SELECT max(seq) FROM job_items ji WHERE ji.job_id = s.job_id), 0)
WHERE s.expanded_at IS NOT NULL;
ALTER TABLE stages DROP COLUMN expanded_at;
COMMENT ON COLUMN stages.claimed_seq IS 'First stage only: every item of the job with job_items.seq up to this value has been claimed (it has a task, or the broker holding the lock is about to write one).';

-- the views count the items not claimed yet as open first-stage work

CREATE OR REPLACE VIEW job_progress AS
SELECT s.job_id, s.idx AS stage_idx, s.name AS stage, s.kind,
       count(t.id) + u.unclaimed                                         AS tasks,
       count(t.id) FILTER (WHERE t.state = 'pending')
         + CASE WHEN j.state = 'cancelled' THEN 0 ELSE u.unclaimed END   AS pending,
       count(t.id) FILTER (WHERE t.state = 'leased')                     AS leased,
       count(t.id) FILTER (WHERE t.state = 'done')                       AS done,
       count(t.id) FILTER (WHERE t.state = 'dead')                       AS dead,
       count(t.id) FILTER (WHERE t.state = 'cancelled')
         + CASE WHEN j.state = 'cancelled' THEN u.unclaimed ELSE 0 END   AS cancelled,
       count(t.id) FILTER (WHERE t.state = 'pending' AND t.attempt > 0)  AS retrying
FROM stages s JOIN jobs j ON j.id = s.job_id
CROSS JOIN LATERAL (SELECT CASE WHEN s.idx = 0 THEN (SELECT count(*) FROM job_items ji
                                                  WHERE ji.job_id = s.job_id AND ji.seq > s.claimed_seq)
                                ELSE 0 END AS unclaimed) u
LEFT JOIN tasks t ON t.stage_id = s.id
GROUP BY s.job_id, s.idx, s.name, s.kind, j.state, u.unclaimed;
COMMENT ON VIEW job_progress IS 'Task counts by state for every stage of every job (what `assay status` shows); first-stage items not claimed yet count as pending tasks (as cancelled ones when the job was cancelled).';

CREATE OR REPLACE VIEW report_job_funnel AS
SELECT s.job_id, s.idx AS stage_idx, s.name AS stage, s.kind, s.round,
       (SELECT count(*) FROM job_items ji WHERE ji.job_id = s.job_id) AS job_items,
       count(DISTINCT t.item_id)                                   AS items_in,
       count(DISTINCT t.item_id) FILTER (WHERE t.state = 'done')   AS items_done,
       count(t.id) + u.unclaimed                                   AS tasks,
       count(t.id) FILTER (WHERE t.state = 'done')                 AS done,
       count(t.id) FILTER (WHERE t.state = 'dead')                 AS dead,
       count(t.id) FILTER (WHERE t.state = 'cancelled')
         + CASE WHEN j.state = 'cancelled' THEN u.unclaimed ELSE 0 END AS cancelled,
       count(t.id) FILTER (WHERE t.state IN ('pending', 'leased'))
         + CASE WHEN j.state = 'cancelled' THEN 0 ELSE u.unclaimed END AS open,
       (SELECT count(*) FROM samples sa WHERE sa.stage_id = s.id)  AS samples
FROM stages s JOIN jobs j ON j.id = s.job_id
CROSS JOIN LATERAL (SELECT CASE WHEN s.idx = 0 THEN (SELECT count(*) FROM job_items ji
                                                  WHERE ji.job_id = s.job_id AND ji.seq > s.claimed_seq)
                                ELSE 0 END AS unclaimed) u
LEFT JOIN tasks t ON t.stage_id = s.id
GROUP BY s.id, s.job_id, s.idx, s.name, s.kind, s.round, j.state, u.unclaimed;
COMMENT ON VIEW report_job_funnel IS 'Job funnel: for every stage of every job, in pipeline order, how many of the job''s items reached the stage (items_in), how many came out of it done (items_done), task counts by outcome and samples written. First-stage items not claimed yet count as open tasks (as cancelled ones when the job was cancelled). items_done / job_items is the share of the job that got through the stage.';
