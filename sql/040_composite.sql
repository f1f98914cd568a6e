-- 040_composite.sql: composite scores and group-normalised advantages per sample.

CREATE VIEW sample_composite AS
WITH w AS (
    SELECT s.id AS sample_id, s.job_id, s.stage_id, s.item_id, i.category,
           coalesce(j.spec->'composite'->i.category, j.spec->'composite'->'default') AS weights
    FROM samples s JOIN items i ON i.id = s.item_id JOIN jobs j ON j.id = s.job_id),
c AS (
    SELECT w.sample_id, w.job_id, w.stage_id, w.item_id, w.category, w.weights,
           CASE WHEN w.weights IS NULL
                THEN avg(sc.value)
                ELSE sum(sc.value * (w.weights->>sc.scorer)::double precision)
                     / nullif(sum((w.weights->>sc.scorer)::double precision), 0)
           END AS composite,
           count(sc.id) AS scorers
    FROM w JOIN scores sc ON sc.sample_id = w.sample_id AND sc.value IS NOT NULL
         AND sc.scorer <> 'hack_check' AND (w.weights IS NULL OR w.weights ? sc.scorer)
    GROUP BY w.sample_id, w.job_id, w.stage_id, w.item_id, w.category, w.weights)
SELECT c.sample_id, c.job_id, c.stage_id, c.item_id, c.category, c.composite, c.scorers,
       coalesce((c.composite - avg(c.composite) OVER g) / nullif(stddev_pop(c.composite) OVER g, 0), 0)
           AS advantage
FROM c
WINDOW g AS (PARTITION BY c.job_id, c.stage_id, c.item_id);
COMMENT ON VIEW sample_composite IS 'Per sample: the composite score (weighted mean of its scores with the weights the job spec gives for the item''s category under "composite", else its "default" weights, else the plain mean; hack checks excluded) and its GRPO-style advantage: (composite - mean of the item''s samples in that stage) / their standard deviation, 0 when they are all equal.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'assay_reporting') THEN
        GRANT SELECT ON sample_composite TO assay_reporting;
    END IF;
END
$$;
