-- 001_core.sql: the system of record: items, jobs, stages, tasks, task outputs,
-- samples, scores. Applied once by `assay db migrate` (recorded in schema_migrations).

CREATE TABLE items (
    id            bigserial PRIMARY KEY,
    dataset       text        NOT NULL,
    ext_id        text,
    kind          text        NOT NULL CHECK (kind IN ('mcq', 'case', 'open')),
    question      text        NOT NULL,
    context       text,
    options       jsonb,
    answer        text,
    gold_codes    text[]      NOT NULL DEFAULT '{}',
    category      text,
    tags          text[]      NOT NULL DEFAULT '{}',
    source        text,
    record        jsonb       NOT NULL,
    content_hash  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset, content_hash)
);
COMMENT ON TABLE items IS 'Imported inputs (exam questions, case records, open health questions), one row per distinct content within a dataset.';
COMMENT ON COLUMN items.dataset IS 'Name the operator gave the import (assay submit --dataset); dedup is per dataset.';
COMMENT ON COLUMN items.ext_id IS 'The id field of the input line, if it had one.';
COMMENT ON COLUMN items.kind IS 'mcq = multiple choice with options and a letter answer; case = case record with a gold diagnosis; open = open question.';
COMMENT ON COLUMN items.question IS 'Question text (for a case record: the record text).';
COMMENT ON COLUMN items.answer IS 'Gold answer: option letter(s) for mcq, diagnosis for case, reference answer for open (may be NULL).';
COMMENT ON COLUMN items.gold_codes IS 'Gold terminology codes of the answer, when known.';
COMMENT ON COLUMN items.category IS '基础知识 | 疾病诊断 | 手术 | 药物 | 检验检查 | other (from the input or the tag stage).';
COMMENT ON COLUMN items.record IS 'The input line as imported, verbatim: what task handlers receive.';
COMMENT ON COLUMN items.content_hash IS 'SHA-256 of kind, question, context and options; identical content is imported once per dataset.';

CREATE TABLE jobs (
    id           bigserial PRIMARY KEY,
    name         text        NOT NULL,
    dataset      text        NOT NULL,
    spec         jsonb       NOT NULL,
    spec_hash    text        NOT NULL,
    state        text        NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'paused', 'cancelled', 'done')),
    weight       integer     NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    priority     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
COMMENT ON TABLE jobs IS 'A job is one pipeline spec run over a set of items.';
COMMENT ON COLUMN jobs.spec IS 'The pipeline spec as submitted (JSON).';
COMMENT ON COLUMN jobs.spec_hash IS 'SHA-256 of the spec text; recorded in exported datasets for lineage.';
COMMENT ON COLUMN jobs.state IS 'running: tasks are dispatched; paused: no new dispatch; cancelled: stopped for good; done: every task ended.';
COMMENT ON COLUMN jobs.weight IS 'Fair-share weight: a job with weight 2 gets twice the dispatch share of a job with weight 1.';

CREATE TABLE job_items (
    job_id   bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    item_id  bigint NOT NULL REFERENCES items (id),
    PRIMARY KEY (job_id, item_id)
);
COMMENT ON TABLE job_items IS 'Which items a job runs over (an item may belong to several jobs).';

CREATE TABLE stages (
    id            bigserial PRIMARY KEY,
    job_id        bigint      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx           integer     NOT NULL,
    name          text        NOT NULL,
    kind          text        NOT NULL,
    params        jsonb       NOT NULL DEFAULT '{}',
    round         integer     NOT NULL DEFAULT 1,
    max_attempts  integer     NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    timeout_s     integer     NOT NULL DEFAULT 600 CHECK (timeout_s >= 1),
    expanded_at   timestamptz,
    UNIQUE (job_id, idx),
    UNIQUE (job_id, name)
);
COMMENT ON TABLE stages IS 'The nodes of a job''s pipeline, in order; idx 0 runs first.';
COMMENT ON COLUMN stages.kind IS 'Task kind the stage runs (generate, verify, judge, ...).';
COMMENT ON COLUMN stages.params IS 'Stage parameters from the spec, passed to every task of the stage.';
COMMENT ON COLUMN stages.round IS 'Difficulty-filtering round the stage belongs to.';
COMMENT ON COLUMN stages.max_attempts IS 'A task of this stage becomes dead after this many attempts.';
COMMENT ON COLUMN stages.timeout_s IS 'How long one attempt may run; also the lease length.';
COMMENT ON COLUMN stages.expanded_at IS 'When the broker created this stage''s tasks for the job''s items (first stage only).';

CREATE TYPE task_state AS ENUM ('pending', 'leased', 'done', 'dead', 'cancelled');
COMMENT ON TYPE task_state IS 'pending (runnable once not_before passes) -> leased -> done | pending again after a failure (backoff) | dead after max_attempts; cancelled with its job.';

CREATE TABLE tasks (
    id             bigserial PRIMARY KEY,
    job_id         bigint      NOT NULL,
    stage_id       bigint      NOT NULL,
    item_id        bigint,
    kind           text        NOT NULL,
    state          task_state  NOT NULL DEFAULT 'pending',
    attempt        integer     NOT NULL DEFAULT 0,
    max_attempts   integer     NOT NULL DEFAULT 5,
    priority       integer     NOT NULL DEFAULT 0,
    not_before     timestamptz NOT NULL DEFAULT now(),
    lease_expires  timestamptz,
    worker         text,
    input          jsonb,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    elapsed_ms     double precision
);
COMMENT ON TABLE tasks IS 'One unit of work for a worker. Hot table: finished rows stay for reporting but are excluded from the runnable index. No foreign keys here or on task_outputs: every row is written by the broker or the CLI from rows that exist, and the checks would cost a trigger per row on the hottest path.';
COMMENT ON COLUMN tasks.attempt IS 'Attempts started so far; (id, attempt) is the idempotency key of a result.';
COMMENT ON COLUMN tasks.priority IS 'Higher runs first within its job: the item''s "priority" field (default 0), inherited by the item''s later stages. Jobs share workers by weight, not by priority.';
COMMENT ON COLUMN tasks.not_before IS 'Earliest time the task may be leased (retry backoff).';
COMMENT ON COLUMN tasks.lease_expires IS 'While leased: when the lease runs out and the task returns to pending.';
COMMENT ON COLUMN tasks.worker IS 'Name of the worker that holds (or last held) the lease.';
COMMENT ON COLUMN tasks.input IS 'Task input when it is not the item record itself (later stages); NULL = items.record.';
COMMENT ON COLUMN tasks.last_error IS 'Reason of the last failed attempt.';
COMMENT ON COLUMN tasks.started_at IS 'When the current (or last) attempt was leased.';
COMMENT ON COLUMN tasks.elapsed_ms IS 'Time the handler took on the worker for the attempt that finished the task.';
-- Partial indexes keep claiming fast however many finished rows accumulate.
CREATE INDEX tasks_runnable ON tasks (job_id, kind, priority DESC, id) WHERE state = 'pending';
CREATE INDEX tasks_leased ON tasks (job_id, lease_expires) WHERE state = 'leased';
CREATE INDEX tasks_stage_item ON tasks (stage_id, item_id);

CREATE TABLE task_outputs (
    task_id     bigint      PRIMARY KEY,
    job_id      bigint      NOT NULL,
    stage_id    bigint      NOT NULL,
    item_id     bigint,
    attempt     integer     NOT NULL,
    worker      text,
    elapsed_ms  double precision,
    output      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE task_outputs IS 'The stored output of each done task with a non-empty output, exactly one per task (the primary key makes a duplicate result impossible).';
COMMENT ON COLUMN task_outputs.elapsed_ms IS 'Time the handler took on the worker.';
CREATE INDEX task_outputs_job ON task_outputs (job_id, stage_id);

CREATE TABLE item_rounds (
    job_id      bigint           NOT NULL,
    stage_id    bigint           NOT NULL,
    item_id     bigint           NOT NULL,
    round       integer          NOT NULL,
    samples     integer          NOT NULL,
    passed      integer          NOT NULL,
    pass_rate   double precision,
    kept        boolean          NOT NULL,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (stage_id, item_id)
);
COMMENT ON TABLE item_rounds IS 'Difficulty history: one row per item and filter stage (round): how many of its samples were scored, how many passed, the pass rate, and whether the item stayed inside the band and went on. Items that fall out stay here, reportable.';
COMMENT ON COLUMN item_rounds.passed IS 'Samples whose score in the stage before the filter reached the filter''s threshold.';
COMMENT ON COLUMN item_rounds.kept IS 'True when min_pass_rate <= pass_rate <= max_pass_rate: the item continued to the next stage.';

CREATE TABLE samples (
    id                 bigserial PRIMARY KEY,
    task_id            bigint      NOT NULL,
    job_id             bigint      NOT NULL,
    stage_id           bigint      NOT NULL,
    item_id            bigint      NOT NULL REFERENCES items (id),
    idx                integer     NOT NULL,
    reasoning          text,
    answer             text,
    raw                jsonb,
    model              text,
    endpoint           text,
    template           text,
    template_hash      text,
    prompt_tokens      integer,
    completion_tokens  integer,
    reasoning_tokens   integer,
    latency_ms         double precision,
    cost_usd           double precision,
    cache_key          text,
    cached             boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, idx)
);
COMMENT ON TABLE samples IS 'Generated outputs: one row per sampled answer (chain of thought + answer) of a generate task.';
COMMENT ON COLUMN samples.idx IS 'Sample index within its task (0..n-1).';
COMMENT ON COLUMN samples.reasoning IS 'The chain of thought (reasoning_content, <think> text); NULL when the endpoint hides it (o3-style).';
COMMENT ON COLUMN samples.raw IS 'The endpoint''s response for this sample, for audit.';
COMMENT ON COLUMN samples.reasoning_tokens IS 'Reasoning tokens the endpoint reported (o3-style usage.completion_tokens_details).';
COMMENT ON COLUMN samples.cost_usd IS 'Cost from the endpoint''s configured prices; 0 when served from the cache.';
COMMENT ON COLUMN samples.cache_key IS 'Hash of (model, messages, parameters, sample index): the llm_cache key.';
CREATE INDEX samples_item ON samples (item_id);
CREATE INDEX samples_job ON samples (job_id, stage_id);

CREATE TABLE scores (
    id             bigserial PRIMARY KEY,
    sample_id      bigint           NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
    task_id        bigint,
    job_id         bigint           NOT NULL,
    item_id        bigint           NOT NULL,
    scorer         text             NOT NULL,
    value          double precision CHECK (value BETWEEN 0 AND 1),
    detail         jsonb,
    comment        text,
    terms_version  text,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (sample_id, scorer)
);
COMMENT ON TABLE scores IS 'One row per (sample, scorer): rule verifier, outcome / process / consistency judge, preference dimension, hack detector.';
COMMENT ON COLUMN scores.scorer IS 'verify | hack_check | the judge''s name (outcome, process, consistency, preference; the preference dimensions are in detail.dimensions).';
COMMENT ON COLUMN scores.value IS 'Score normalised to [0,1].';
COMMENT ON COLUMN scores.detail IS 'Explanation: atoms, codes, similarities, judge output.';
COMMENT ON COLUMN scores.terms_version IS 'Terminology version the scorer used (rule-based scorers).';
CREATE INDEX scores_job ON scores (job_id, scorer);

CREATE TABLE llm_cache (
    key                text        PRIMARY KEY,
    family             text        NOT NULL,
    endpoint           text        NOT NULL,
    model              text        NOT NULL,
    response           jsonb       NOT NULL,
    prompt_tokens      integer,
    completion_tokens  integer,
    cost_usd           double precision,
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE llm_cache IS 'Paid samples by request hash, so the same request is never paid for twice and a re-run or retried job resumes without re-spending.';
COMMENT ON COLUMN llm_cache.key IS 'The sample''s cache key: hash of (model, messages, parameters, sample index), computed by the worker.';
COMMENT ON COLUMN llm_cache.family IS 'Hash of (stage parameters, task input): every sample a generate task of that shape asks for; the broker attaches the family''s cached samples to such a task, and the worker reuses those whose key still matches.';
COMMENT ON COLUMN llm_cache.response IS 'The sample as the generate task returned it (answer, reasoning, raw response, tokens, cost).';
CREATE INDEX llm_cache_family ON llm_cache (family);

CREATE TABLE datasets (
    id          bigserial PRIMARY KEY,
    job_id      bigint      REFERENCES jobs (id),
    name        text        NOT NULL,
    format      text        NOT NULL,
    path        text,
    rows        bigint      NOT NULL DEFAULT 0,
    spec_hash   text,
    lineage     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE datasets IS 'Exported snapshots (assay export) with their lineage: job, stage, spec hash, prompt template hashes, terminology version.';

CREATE TABLE reviews (
    id          bigserial PRIMARY KEY,
    sample_id   bigint      NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
    decision    text        NOT NULL CHECK (decision IN ('accept', 'reject', 'edit')),
    reviewer    text        NOT NULL,
    edited      jsonb,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reviews IS 'Human review decisions on samples (accept / reject / edit).';

CREATE TABLE workers (
    name        text        PRIMARY KEY,
    slots       jsonb       NOT NULL DEFAULT '{}',
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    connected   boolean     NOT NULL DEFAULT true,
    done        bigint      NOT NULL DEFAULT 0,
    failed      bigint      NOT NULL DEFAULT 0
);
COMMENT ON TABLE workers IS 'Workers the broker has seen: slots per kind, liveness, totals (written by the broker now and then, for `assay workers`).';

CREATE VIEW job_progress AS
SELECT s.job_id, s.idx AS stage_idx, s.name AS stage, s.kind,
       count(t.id)                                    AS tasks,
       count(t.id) FILTER (WHERE t.state = 'pending')  AS pending,
       count(t.id) FILTER (WHERE t.state = 'leased')   AS leased,
       count(t.id) FILTER (WHERE t.state = 'done')     AS done,
       count(t.id) FILTER (WHERE t.state = 'dead')     AS dead,
       count(t.id) FILTER (WHERE t.state = 'cancelled') AS cancelled,
       count(t.id) FILTER (WHERE t.state = 'pending' AND t.attempt > 0) AS retrying
FROM stages s LEFT JOIN tasks t ON t.stage_id = s.id
GROUP BY s.job_id, s.idx, s.name, s.kind;
COMMENT ON VIEW job_progress IS 'Task counts by state for every stage of every job (what `assay status` shows).';

-- Tolerant readers of worker output: a malformed number in one result must not
-- fail the whole batch it is written in, so out-of-type or out-of-range values read
-- as NULL.
CREATE FUNCTION assay_jint(j jsonb) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'number'
                 AND j::text::numeric BETWEEN -2147483648 AND 2147483647
           THEN round(j::text::numeric)::integer END
$$;
COMMENT ON FUNCTION assay_jint(jsonb) IS 'A JSON number as integer, NULL when it is not a number or out of range.';

CREATE FUNCTION assay_jnum(j jsonb) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'number' AND abs(j::text::numeric) < 1e300
           THEN j::text::numeric::double precision END
$$;
COMMENT ON FUNCTION assay_jnum(jsonb) IS 'A JSON number as double precision, NULL when it is not a number or out of range.';

CREATE FUNCTION assay_jbool(j jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'boolean' THEN j::text::boolean END
$$;
COMMENT ON FUNCTION assay_jbool(jsonb) IS 'A JSON boolean, NULL when it is not one.';

CREATE FUNCTION assay_jtext(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}'
                WHEN j IS NULL OR jsonb_typeof(j) = 'null' THEN NULL
                ELSE j::text END
$$;
COMMENT ON FUNCTION assay_jtext(jsonb) IS 'A JSON string as text (other values as their JSON text), NULL for null.';
