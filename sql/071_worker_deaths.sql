-- 071_worker_deaths.sql: poison-task detection.
--
-- A task whose input kills the worker that runs it (a handler crash, an
-- out-of-memory kill) would otherwise be handed to the next worker, and the next,
-- until the fleet is gone. The broker counts, per task, the workers that died
-- (went silent: missed heartbeats) while they held it; the death that reaches
-- its limit (broker.poison_deaths, default 2) makes the task dead with the last
-- error "worker died running this task (possible poison input): ...", which
-- `assay retry JOB --list` and report_failures show like any other reason.
-- A worker that drains (SIGTERM) and hands its tasks back, and a broker restart,
-- are not deaths.

ALTER TABLE tasks ADD COLUMN worker_deaths integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN tasks.worker_deaths IS 'Workers that died (missed heartbeats, no goodbye) while running this task, counted from its first attempt (an operator''s retry restarts the count with the next death at attempt 1). At broker.poison_deaths (default 2) the task becomes dead as a possible poison input instead of running again.';
