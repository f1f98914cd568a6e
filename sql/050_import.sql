-- 050_import.sql: job_items without foreign keys, so that importing a large file
-- does not pay a trigger per row.

ALTER TABLE job_items DROP CONSTRAINT job_items_job_id_fkey,
                      DROP CONSTRAINT job_items_item_id_fkey;
COMMENT ON TABLE job_items IS 'Which items a job runs over (an item may belong to several jobs). No foreign keys: rows are only written by `assay submit`, in the transaction that creates the job, from items it has just imported or looked up, and jobs and items are never deleted; the checks would cost a trigger per row on the import path (more than half of the time of a large import).';
