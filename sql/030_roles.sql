-- 030_roles.sql: database roles with least privilege, for the three kinds of
-- client assay has. They are NOLOGIN group roles; an administrator creates the
-- login roles that inherit them, e.g.
--
--   CREATE ROLE broker_prod LOGIN PASSWORD '...' IN ROLE assay_broker;
--   CREATE ROLE alice       LOGIN PASSWORD '...' IN ROLE assay_operator;
--   CREATE ROLE grafana     LOGIN PASSWORD '...' IN ROLE assay_reporting;
--
--   assay_broker     the scheduler: reads jobs, stages and items; claims, leases and
--                    finishes tasks; stores outputs and samples; marks jobs done.
--                    It cannot create, delete or re-weight jobs.
--   assay_operator   the `assay` CLI: submits jobs and items, pauses, resumes,
--                    cancels and retries, exports, loads terminologies.
--   assay_reporting  read-only dashboards and `assay report`: the reporting views
--                    only (created here only when absent: 020_reporting.sql
--                    grants it its views).
--
-- Roles belong to the whole cluster, so creating them tolerates an existing role
-- (another database of the same cluster, or a concurrent migration). Schema
-- changes (`assay db migrate`) stay with the owner of the database.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['assay_broker', 'assay_operator', 'assay_reporting'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO assay_broker, assay_operator, assay_reporting',
                   current_database());
    -- the broker and the CLI stage batches in temporary tables (COPY)
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO assay_broker, assay_operator',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO assay_broker, assay_operator, assay_reporting;

-- reporting reads the documented views only (granted in 020_reporting.sql), never
-- the tables behind them

-- broker: reads the job definitions, writes the task flow and its results. The
-- lists name tables of other versions of 001_core.sql too (item_rounds,
-- llm_cache) and grant only what exists. A later migration that adds a table
-- the broker writes grants it there.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'stages', 'items', 'job_items', 'schema_migrations',
                             'job_progress'] LOOP
        IF to_regclass('public.' || t) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON %I TO assay_broker', t);
        END IF;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['tasks', 'task_outputs', 'item_rounds', 'samples', 'scores',
                             'workers', 'llm_cache'] LOOP
        IF to_regclass('public.' || t) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO assay_broker', t);
        END IF;
    END LOOP;
END
$$;
GRANT UPDATE (state, finished_at) ON jobs TO assay_broker;
GRANT UPDATE ON stages TO assay_broker;

-- operator (CLI): everything the commands do, but no DDL and no role changes
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO assay_operator;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM assay_operator;
GRANT TRUNCATE ON terms_codes, terms_aliases, terms_kg_nodes, terms_kg_edges TO assay_operator;

GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO assay_broker, assay_operator;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO assay_broker, assay_operator, assay_reporting;

-- tables of later migrations (created by the same owner) are usable by the CLI;
-- the broker's grants stay explicit, reporting gets views one by one
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO assay_operator;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO assay_operator;
