/*  store.c: see store.h */
#include "broker/store.h"

#include "common/imap.h"
#include "common/db/db.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#define S_LOCK_SQL "SELECT pg_try_advisory_lock(7305812002)"
#define S_LEASE_GRACE_S "60"

/* a task claimed by a committed pass whose row is not written as leased yet */
typedef struct {
    uint64_t id;
    uint32_t attempt;
    int is_virtual; /* a first-stage task claimed from job_items: no row yet */
    uint64_t job_id, stage_id, item_id;
    int priority;
    int64_t since_ms; /* when it was handed to a worker (0: still in the broker's queue) */
} s_claimed_t;

/* a small set of job ids; past its capacity it only says "many" */
typedef struct {
    uint64_t ids[16];
    size_t n;
    int overflow;
} s_jobset_t;

static void s_jobset_add(s_jobset_t *set, uint64_t job_id)
{
    for (size_t j = 0; j < set->n; j++)
        if (set->ids[j] == job_id) return;
    if (set->n < sizeof set->ids / sizeof *set->ids)
        set->ids[set->n++] = job_id;
    else
        set->overflow = 1;
}

/* results for the side writer, as array literals (one statement, no COPY) */
typedef struct {
    assay_buf_t id, attempt, output, worker, elapsed, stage, item, prio;
    size_t n;
    s_jobset_t jobs; /* the jobs they belong to (busy until written) */
    int replay; /* sent before without a known outcome: use the guarded statement */
    int outputs; /* some output is not empty */
} s_side_batch_t;

struct assay_store {
    char *conninfo;
    assay_db_t *db;
    char error[1024];
    /* write batches, in COPY text format */
    assay_buf_t results, fails, releases;
    size_t nresults, nfails, nreleases;
    assay_buf_t lease_buf; /* scratch: the leases of one flush */
    uint64_t *lease_ids;   /* scratch: the claims those leases are for */
    size_t nlease_ids, cap_lease_ids;
    s_claimed_t **leasing; /* taken out of unleased while their leases are written */
    size_t nleasing, cap_leasing;
    int64_t lease_now;
    int lease_all;
    /* what earlier rounds of the open transaction already wrote (counts, offsets) */
    size_t round_results, round_fails, round_releases;
    size_t round_results_off, round_fails_off, round_releases_off;
    /* results queued up to this count include one that needs the full statements
     * (samples, scores, next stage): a round that writes any result below the mark
     * takes the full path. A count, not a flag, because reports keep arriving while
     * a round's statements run: one queued after the round's cut must keep its
     * claim to the full path for the next round, or its scores are never written */
    size_t full_mark;
    int poison_deaths;       /* worker deaths that make a task dead (0: never) */
    uint64_t round_poisoned; /* tasks the open transaction made dead that way */
    /* lazy leases: tasks claimed by committed passes whose lease is not written yet
     * (id -> attempt), and the claims of the open transaction */
    assay_imap_t *unleased; /* id -> s_claimed_t */
    s_claimed_t *staged;
    size_t nstaged, cap_staged;
    /* first-stage tasks to write as pending before their failure or lease (COPY) */
    assay_buf_t virt;
    size_t nvirt, round_virt, round_virt_off;
    int gaps_due; /* look for claimed items without a task before the next claim */
    int gap_grace_ms; /* how long such a task waits for a late result (recovery grace) */
    /* the side writer: a second connection that writes the results of first-stage
     * tasks of stages that feed nothing (most of a large job's results) while the
     * main one claims and writes the rest; one statement at a time */
    assay_db_t *side;
    s_side_batch_t side_next, side_sent;
    int side_busy;
    int64_t side_retry_ms;
    /* jobs of first-stage tasks (no row yet) whose outcome waits in the main
     * buffers: busy until written, or finish_jobs would see a job with nothing
     * pending in Postgres and call it done */
    s_jobset_t main_jobs;
    /* while a statement of a flush runs, the broker keeps serving workers (idle_fn);
     * busy is set then: nothing else may use the main connection */
    int (*idle_fn)(void *arg);
    void *idle_arg;
    int busy;
    /* stage cache */
    assay_store_stage_t *stages;
    size_t nstages, cap_stages;
};

static const char s_setup_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS b_results (id bigint, attempt integer, output text,"
    " worker text, elapsed_ms double precision, v_stage bigint, v_item bigint, v_prio integer)"
    " ON COMMIT DELETE ROWS;"
    "CREATE INDEX IF NOT EXISTS b_results_id ON b_results (id);"
    "CREATE TEMP TABLE IF NOT EXISTS b_virt (id bigint, stage_id bigint, item_id bigint,"
    " priority integer) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS b_fails (id bigint, attempt integer, retryable boolean,"
    " delay_ms integer, reason text, worker text, died boolean) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS b_release (id bigint, attempt integer) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS b_lease (id bigint, attempt integer) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS b_done (id bigint, job_id bigint, stage_id bigint,"
    " item_id bigint, kind text, attempt integer, input jsonb, priority integer, output jsonb,"
    " dead boolean NOT NULL DEFAULT false)"
    " ON COMMIT DELETE ROWS;"
    "LISTEN assay_jobs;"
    /* The hot statements join a batch of about a thousand rows (a temp table Postgres
     * has no statistics for) to the big tables by key. A hash or merge join there
     * reads the whole tasks table every pass; index lookups cost the same whatever
     * its size. Statements that read whole tables turn them back on (SET LOCAL). */
    "SET enable_hashjoin = off;"
    "SET enable_mergejoin = off";

/* Fragments of the statements that write results, all reading the batch as rows r
 * (id, attempt, output, worker, elapsed_ms, v_stage, v_item, v_prio; the v_ columns
 * are set for a first-stage task claimed from job_items, which has no row yet). */

/* a task with a row: done when the result's attempt is current, i.e. leased with it,
 * pending with it (its lease ran out, nobody has the task yet) or pending one below
 * it (claimed, lease not written yet) */
#define S_DONE_UPDATE                                                                         \
    "UPDATE tasks t SET state = 'done', finished_at = now(), lease_expires = NULL,"          \
    "       worker = r.worker, last_error = NULL, elapsed_ms = r.elapsed_ms,"                \
    "       attempt = r.attempt,"                                                            \
    "       started_at = CASE WHEN t.state = 'pending'"                                      \
    "         THEN now() - make_interval(secs => r.elapsed_ms / 1000.0) ELSE t.started_at END" \
    " FROM r WHERE r.v_stage IS NULL AND t.id = r.id"                                        \
    "   AND (t.attempt = r.attempt AND t.state IN ('leased', 'pending')"                     \
    "        OR t.attempt = r.attempt - 1 AND t.state = 'pending')"

/* a first-stage task claimed from job_items: written once, done */
#define S_FIRST_DONE_INSERT                                                                   \
    "INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, attempt, max_attempts,"  \
    "                   priority, worker, elapsed_ms, started_at, finished_at)"              \
    " SELECT r.id, s.job_id, r.v_stage, r.v_item, s.kind, 'done', r.attempt, s.max_attempts," \
    "        r.v_prio, r.worker, r.elapsed_ms,"                                              \
    "        now() - make_interval(secs => r.elapsed_ms / 1000.0), now()"                    \
    " FROM r JOIN stages s ON s.id = r.v_stage"

/* ... unless a replay finds the row already written */
#define S_NOT_WRITTEN " WHERE NOT EXISTS (SELECT 1 FROM tasks x WHERE x.id = r.id)"

/* the non-empty outputs of first-stage tasks claimed from job_items (output as text) */
#define S_FIRST_OUTPUTS                                                                       \
    "SELECT r.id, s.job_id, r.v_stage, r.v_item, r.attempt, r.worker, r.elapsed_ms,"          \
    "       r.output::jsonb"                                                                  \
    " FROM r JOIN stages s ON s.id = r.v_stage WHERE r.output <> '{}'"

/* the results of the batch that were not stored, and why (read before this
 * statement's own writes: for these rows that is their current state). Only
 * looked at when some were not stored (the one-time filter), so a clean pass
 * pays nothing for it. */
#define S_IGNORED(stored)                                                                     \
    " ig AS (SELECT r.id, r.output, x.kind, x.stage_id, x.item_id, x.input,"                  \
    "               CASE WHEN x.id IS NULL THEN 'unknown_task'"                              \
    "                    WHEN x.state = 'done' AND x.attempt = r.attempt THEN 'replayed'"      \
    "                    WHEN x.state = 'done' THEN 'duplicate'"                             \
    "                    WHEN x.state IN ('dead', 'cancelled') THEN 'task_ended'"            \
    "                    WHEN x.attempt > r.attempt THEN 'stale_attempt'"                    \
    "                    ELSE 'other' END AS why"                                            \
    "        FROM r LEFT JOIN tasks x ON x.id = r.id"                                        \
    "        WHERE (SELECT count(*) FROM " stored ") < (SELECT count(*) FROM r)"              \
    "          AND r.id NOT IN (SELECT id FROM " stored ")),"

/* counts of ig by reason, in the order of assay_store_ignored_t */
#define S_IGNORED_COUNTS                                                                      \
    "(SELECT count(*) FROM ig WHERE why = 'stale_attempt'),"                                  \
    " (SELECT count(*) FROM ig WHERE why = 'duplicate'),"                                     \
    " (SELECT count(*) FROM ig WHERE why = 'replayed'),"                                      \
    " (SELECT count(*) FROM ig WHERE why = 'task_ended'),"                                    \
    " (SELECT count(*) FROM ig WHERE why = 'unknown_task'),"                                  \
    " (SELECT count(*) FROM ig WHERE why = 'other')"

static const char s_results_sql[] =
    "WITH r AS (SELECT DISTINCT ON (id) id, attempt, output::jsonb AS output, worker, elapsed_ms,"
    "                  v_stage, v_item, v_prio"
    "           FROM b_results ORDER BY id, attempt DESC),"
    " du AS (" S_DONE_UPDATE
    "        RETURNING t.id, t.job_id, t.stage_id, t.item_id, t.kind, t.attempt, t.input,"
    "                  t.priority, r.output, r.worker, r.elapsed_ms),"
    " di AS (" S_FIRST_DONE_INSERT S_NOT_WRITTEN
    "        RETURNING id, job_id, stage_id, item_id, kind, attempt, input, priority),"
    " d AS (SELECT * FROM du UNION ALL"
    "       SELECT di.*, b.output, b.worker, b.elapsed_ms FROM di CROSS JOIN LATERAL"
    "        (SELECT output::jsonb AS output, worker, elapsed_ms FROM b_results"
    "         WHERE b_results.id = di.id AND b_results.attempt = di.attempt LIMIT 1) b),"
    " o AS (INSERT INTO task_outputs (task_id, job_id, stage_id, item_id, attempt, worker,"
    "                                 elapsed_ms, output)"
    "       SELECT id, job_id, stage_id, item_id, attempt, worker, elapsed_ms, output FROM d"
    "       WHERE output <> '{}'::jsonb ON CONFLICT (task_id) DO NOTHING RETURNING task_id),"
    " s AS (INSERT INTO samples (task_id, job_id, stage_id, item_id, idx, reasoning, answer, raw,"
    "         model, endpoint, template, template_hash, prompt_tokens, completion_tokens,"
    "         reasoning_tokens, latency_ms, cost_usd, cache_key, cached)"
    "       SELECT d.id, d.job_id, d.stage_id, d.item_id,"
    "              coalesce(assay_jint(x.v->'index'), assay_jint(x.v->'idx'), (x.ord - 1)::integer),"
    "              assay_jtext(x.v->'reasoning'), assay_jtext(x.v->'answer'), x.v->'raw',"
    "              assay_jtext(x.v->'model'), assay_jtext(x.v->'endpoint'),"
    "              assay_jtext(x.v->'template'), assay_jtext(x.v->'template_hash'),"
    "              assay_jint(x.v->'prompt_tokens'), assay_jint(x.v->'completion_tokens'),"
    "              assay_jint(x.v->'reasoning_tokens'), assay_jnum(x.v->'latency_ms'),"
    "              CASE WHEN coalesce(assay_jbool(x.v->'cached'), false) THEN 0"
    "                   ELSE coalesce(assay_jnum(x.v->'cost'), assay_jnum(x.v->'cost_usd')) END,"
    "              assay_jtext(x.v->'cache_key'),"
    "              coalesce(assay_jbool(x.v->'cached'), false)"
    "       FROM d CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.output->'samples')"
    "            = 'array' THEN d.output->'samples' ELSE '[]'::jsonb END) WITH ORDINALITY AS x(v, ord)"
    "       WHERE d.item_id IS NOT NULL AND jsonb_typeof(x.v) = 'object'"
    "       ON CONFLICT (task_id, idx) DO NOTHING"
    "       RETURNING 1),"
    S_IGNORED("d")
    /* paid samples go to the response cache, keyed by request and by task shape:
     * those of a result that is not stored too (a late one, from an attempt a
     * failover or a lost worker gave up on), so a retry of the task reuses them */
    " lsrc AS (SELECT stage_id, item_id, input, output FROM d WHERE kind = 'generate'"
    "          UNION ALL SELECT stage_id, item_id, input, output FROM ig WHERE kind = 'generate'),"
    " lc AS (INSERT INTO llm_cache (key, family, endpoint, model, response, prompt_tokens,"
    "                              completion_tokens, cost_usd)"
    "       SELECT DISTINCT ON (x.v->>'cache_key') x.v->>'cache_key',"
    "              encode(sha256(convert_to(cs.params::text"
    "                     || (coalesce(d.input, i.record, '{}'::jsonb) - 'cached')::text, 'UTF8')), 'hex'),"
    "              coalesce(assay_jtext(x.v->'endpoint'), ''), coalesce(assay_jtext(x.v->'model'), ''),"
    "              x.v, assay_jint(x.v->'prompt_tokens'), assay_jint(x.v->'completion_tokens'),"
    "              assay_jnum(x.v->'cost')"
    "       FROM lsrc d JOIN stages cs ON cs.id = d.stage_id LEFT JOIN items i ON i.id = d.item_id"
    "       CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.output->'samples')"
    "            = 'array' THEN d.output->'samples' ELSE '[]'::jsonb END) AS x(v)"
    "       WHERE jsonb_typeof(x.v->'cache_key') = 'string'"
    "         AND NOT coalesce(assay_jbool(x.v->'cached'), false)"
    "       ON CONFLICT (key) DO NOTHING RETURNING 1),"
    /* what the second statement (s_chain_sql) works from */
    " bd AS (INSERT INTO b_done (id, job_id, stage_id, item_id, kind, attempt, input, priority,"
    "                           output)"
    "        SELECT id, job_id, stage_id, item_id, kind, attempt, input, priority, output FROM d"
    "        RETURNING 1)"
    " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM b_results), (SELECT count(*) FROM bd),"
    "        (SELECT count(*) FROM s), " S_IGNORED_COUNTS;


/* the results of tasks that create nothing further (no samples, no scores, no next
 * stage): the task and its output, nothing else */
static const char s_results_lean_sql[] =
    "WITH r AS (SELECT DISTINCT ON (id) id, attempt, output, worker, elapsed_ms,"
    "                  v_stage, v_item, v_prio"
    "           FROM b_results ORDER BY id, attempt DESC),"
    " du AS (" S_DONE_UPDATE
    "        RETURNING t.id, t.job_id, t.stage_id, t.item_id, t.attempt, r.output, r.worker,"
    "                  r.elapsed_ms),"
    " di AS (" S_FIRST_DONE_INSERT S_NOT_WRITTEN " RETURNING id),"
    " dd AS (SELECT id FROM du UNION ALL SELECT id FROM di),"
    S_IGNORED("dd")
    /* most outputs of such stages are empty: only the others are parsed and kept */
    " o AS (INSERT INTO task_outputs (task_id, job_id, stage_id, item_id, attempt, worker,"
    "                                 elapsed_ms, output)"
    "       SELECT id, job_id, stage_id, item_id, attempt, worker, elapsed_ms, output::jsonb"
    "       FROM du WHERE output <> '{}'"
    "       UNION ALL " S_FIRST_OUTPUTS
    "       ON CONFLICT (task_id) DO NOTHING RETURNING task_id)"
    " SELECT (SELECT count(*) FROM dd), (SELECT count(*) FROM b_results),"
    "        0, (SELECT count(*) FROM o), " S_IGNORED_COUNTS;


/* the side writer's statement: results of first-stage tasks claimed from job_items
 * whose stage feeds nothing, passed as arrays (one task at most once per batch),
 * written once, done. A batch sent again after a failure uses the guarded form
 * (s_side_guarded_sql), which writes nothing twice. */
#define S_SIDE_SQL(guard)                                                                    \
    "WITH r AS MATERIALIZED (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[],"  \
    "             $4::text[], $5::float8[], $6::bigint[], $7::bigint[], $8::integer[])"       \
    "           AS r(id, attempt, output, worker, elapsed_ms, v_stage, v_item, v_prio)),"     \
    " di AS (" S_FIRST_DONE_INSERT guard " RETURNING 1),"                                     \
    " o AS (INSERT INTO task_outputs (task_id, job_id, stage_id, item_id, attempt, worker,"   \
    "                                 elapsed_ms, output) " S_FIRST_OUTPUTS                   \
    "       ON CONFLICT (task_id) DO NOTHING RETURNING 1)"                                    \
    " SELECT (SELECT count(*) FROM di), (SELECT count(*) FROM r)"
static const char s_side_sql[] = S_SIDE_SQL("");
/* the same when every output is empty (most no-op and bookkeeping stages) */
static const char s_side_plain_sql[] =
    "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::float8[],"
    "             $5::bigint[], $6::bigint[], $7::integer[])"
    "           AS r(id, attempt, worker, elapsed_ms, v_stage, v_item, v_prio)) "
    S_FIRST_DONE_INSERT;
static const char s_side_guarded_sql[] = S_SIDE_SQL(S_NOT_WRITTEN);

/* the second statement of a results batch: what the done tasks set in motion.
 * It runs after s_results_sql in the same transaction, so the samples and task
 * outputs of this batch are visible here through their indexes (a CTE has none). */
static const char s_chain_sql[] =
    "WITH d AS (SELECT * FROM b_done),"
    /* per-sample kinds fan out: one next-stage task per stored sample */
    " n AS (INSERT INTO tasks (job_id, stage_id, item_id, kind, max_attempts, priority, input)"
    "       SELECT d.job_id, ns.id, d.item_id, ns.kind, ns.max_attempts, d.priority,"
    "              CASE WHEN x.id IS NULL"
    "                   THEN (coalesce(d.input, i.record, '{}'::jsonb) - 'cached') || d.output"
    "              ELSE (coalesce(d.input, i.record, '{}'::jsonb) - 'cached') || (d.output - 'samples')"
    "                   || jsonb_build_object('sample_id', x.id, 'sample', jsonb_build_object("
    "                        'idx', x.idx, 'answer', x.answer, 'reasoning', x.reasoning,"
    "                        'model', x.model)) END"
    "       FROM d JOIN stages cs ON cs.id = d.stage_id"
    "       JOIN stages ns ON ns.job_id = d.job_id AND ns.idx = cs.idx + 1"
    "       JOIN jobs j ON j.id = d.job_id LEFT JOIN items i ON i.id = d.item_id"
    "       LEFT JOIN samples x ON x.task_id = d.id"
    "            AND ns.kind IN ('verify', 'hack_check', 'judge', 'cot_actions')"
    "       WHERE j.state <> 'cancelled' AND ns.kind <> 'filter' AND NOT d.dead RETURNING 1),"
    /* scorers record one score per (sample, scorer) */
    " sc AS (INSERT INTO scores (sample_id, task_id, job_id, item_id, scorer, value, detail,"
    "                            comment, terms_version)"
    "       SELECT (d.input->>'sample_id')::bigint, d.id, d.job_id, d.item_id,"
    "              coalesce(assay_jtext(d.output->'scorer'), d.kind),"
    "              least(1, greatest(0, coalesce(assay_jnum(d.output->'score'),"
    "                                            assay_jnum(d.output->'hack_score')))),"
    "              d.output, assay_jtext(d.output->'comment'), assay_jtext(d.output->'terms_version')"
    "       FROM d WHERE d.kind IN ('verify', 'hack_check', 'judge') AND NOT d.dead"
    "         AND jsonb_typeof(d.input->'sample_id') = 'number'"
    "         AND EXISTS (SELECT 1 FROM samples sm WHERE sm.id = (d.input->>'sample_id')::bigint)"
    "       ON CONFLICT (sample_id, scorer) DO NOTHING RETURNING 1),"
    /* filter stages (difficulty filtering) run here, in SQL: when the last scored
     * sample of an item is in (done, or dead: then it has no score), its pass rate
     * decides whether it goes on */
    " fz AS (SELECT DISTINCT d.job_id, d.stage_id, d.item_id, fs.id AS filter_id, fs.idx AS fidx,"
    "               fs.params AS fp, fs.round AS fround"
    "        FROM d JOIN stages cs ON cs.id = d.stage_id"
    "        JOIN stages fs ON fs.job_id = d.job_id AND fs.idx = cs.idx + 1 AND fs.kind = 'filter'"
    "        JOIN jobs j ON j.id = d.job_id"
    "        WHERE j.state <> 'cancelled' AND d.item_id IS NOT NULL"
    "          AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.stage_id = d.stage_id"
    "                          AND o.item_id = d.item_id AND o.state IN ('pending', 'leased'))),"
    " fv AS (SELECT fz.filter_id, fz.item_id, assay_jnum(o.output->'score') AS v"
    "        FROM fz JOIN tasks t ON t.stage_id = fz.stage_id AND t.item_id = fz.item_id"
    "             AND t.state = 'done' JOIN task_outputs o ON o.task_id = t.id),"
    " fa AS (SELECT fz.job_id, fz.filter_id, fz.fidx, fz.fround, fz.item_id, fz.fp,"
    "               count(fv.v) AS n,"
    "               count(fv.v) FILTER (WHERE fv.v >= coalesce(assay_jnum(fz.fp->'threshold'), 0.8))"
    "                 AS passed,"
    "               (SELECT coalesce(gt.input, it.record, '{}'::jsonb) - 'cached'"
    "                FROM tasks vt JOIN samples sm ON sm.id = CASE WHEN jsonb_typeof("
    "                     vt.input->'sample_id') = 'number' THEN (vt.input->>'sample_id')::bigint END"
    "                JOIN tasks gt ON gt.id = sm.task_id LEFT JOIN items it ON it.id = gt.item_id"
    "                WHERE vt.stage_id = fz.stage_id AND vt.item_id = fz.item_id LIMIT 1) AS base"
    "        FROM fz LEFT JOIN fv ON fv.filter_id = fz.filter_id AND fv.item_id = fz.item_id"
    "        GROUP BY fz.job_id, fz.filter_id, fz.fidx, fz.fround, fz.item_id, fz.fp, fz.stage_id),"
    " fk AS (SELECT fa.*, CASE WHEN n > 0 THEN passed::float8 / n END AS rate,"
    "               (n > 0 AND passed::float8 / n >= coalesce(assay_jnum(fp->'min_pass_rate'), 0.05)"
    "                      AND passed::float8 / n <= coalesce(assay_jnum(fp->'max_pass_rate'), 0.95))"
    "                 AS kept"
    "        FROM fa),"
    " fr AS (INSERT INTO item_rounds (job_id, stage_id, item_id, round, samples, passed,"
    "                                 pass_rate, kept)"
    "        SELECT job_id, filter_id, item_id, fround, n, passed, rate, kept FROM fk"
    "        ON CONFLICT (stage_id, item_id) DO NOTHING RETURNING item_id, stage_id),"
    " ft AS (INSERT INTO tasks (job_id, stage_id, item_id, kind, state, attempt, max_attempts,"
    "                           input, started_at, finished_at)"
    "        SELECT fk.job_id, fk.filter_id, fk.item_id, 'filter', 'done', 1, 1,"
    "               jsonb_build_object('samples', fk.n, 'passed', fk.passed,"
    "                                  'pass_rate', fk.rate, 'kept', fk.kept), now(), now()"
    "        FROM fk JOIN fr ON fr.stage_id = fk.filter_id AND fr.item_id = fk.item_id"
    "        RETURNING 1),"
    " fn AS (INSERT INTO tasks (job_id, stage_id, item_id, kind, max_attempts, input)"
    "        SELECT fk.job_id, ns.id, fk.item_id, ns.kind, ns.max_attempts,"
    "               coalesce(fk.base, it.record, '{}'::jsonb) || jsonb_build_object('difficulty',"
    "                 coalesce(fk.base->'difficulty', '[]'::jsonb) || jsonb_build_array("
    "                   jsonb_build_object('round', fk.fround, 'samples', fk.n, 'passed', fk.passed,"
    "                                      'pass_rate', round(fk.rate::numeric, 4))))"
    "        FROM fk JOIN fr ON fr.stage_id = fk.filter_id AND fr.item_id = fk.item_id"
    "        JOIN stages ns ON ns.job_id = fk.job_id AND ns.idx = fk.fidx + 1"
    "        LEFT JOIN items it ON it.id = fk.item_id"
    "        WHERE fk.kept RETURNING 1)"
    " SELECT (SELECT count(*) FROM n) + (SELECT count(*) FROM fn)";


/* Worker deaths: a failure with died set is a worker that went away without a
 * word (missed heartbeats) while it ran the task. tasks.worker_deaths counts them
 * since the task's first attempt (an operator's retry starts it at 1 again, so
 * the count restarts there); the death that reaches the limit ($1, 0 = never)
 * makes the task dead instead of handing it to the next worker. */
#define S_DEATHS                                                                              \
    "(CASE WHEN f.attempt <= 1 THEN 0 ELSE t.worker_deaths END"                              \
    " + CASE WHEN f.died THEN 1 ELSE 0 END)"
#define S_POISON "(f.died AND $1::integer > 0 AND " S_DEATHS " >= $1::integer)"
#define S_FAIL_DEAD "(NOT f.retryable OR f.attempt >= t.max_attempts OR " S_POISON ")"

static const char s_fails_sql[] =
    "WITH f AS (SELECT DISTINCT ON (id) * FROM b_fails ORDER BY id, attempt DESC),"
    " u AS (UPDATE tasks t SET"
    "         state = CASE WHEN " S_FAIL_DEAD
    "                      THEN 'dead'::task_state ELSE 'pending'::task_state END,"
    "         attempt = f.attempt, worker_deaths = " S_DEATHS ","
    "         not_before = now() + make_interval(secs => f.delay_ms / 1000.0),"
    "         lease_expires = NULL, worker = f.worker,"
    "         last_error = CASE WHEN " S_POISON
    "           THEN 'worker died running this task (possible poison input): ' || " S_DEATHS
    "                || ' workers died holding it, the last: ' || f.reason"
    "           ELSE f.reason END,"
    "         finished_at = CASE WHEN " S_FAIL_DEAD " THEN now() END"
    "       FROM f WHERE t.id = f.id AND (t.attempt = f.attempt AND t.state = 'leased'"
    "                                     OR t.attempt = f.attempt - 1 AND t.state = 'pending')"
    "       RETURNING t.state, t.id, t.job_id, t.stage_id, t.item_id, t.kind, t.attempt, t.input,"
    "                 t.priority,"
    /* RETURNING sees the new row: worker_deaths already counts this death */
    "                 f.died AND $1::integer > 0 AND t.worker_deaths >= $1::integer AS poison),"
    /* a dead task may have been the last open one of its item in a stage a filter
     * follows: the chain statement looks (it makes no next-stage task for it) */
    " bd AS (INSERT INTO b_done (id, job_id, stage_id, item_id, kind, attempt, input, priority,"
    "                           output, dead)"
    "        SELECT id, job_id, stage_id, item_id, kind, attempt, input, priority, '{}'::jsonb, true"
    "        FROM u WHERE state = 'dead' AND item_id IS NOT NULL RETURNING 1)"
    " SELECT count(*) FILTER (WHERE state = 'dead'), count(*) FILTER (WHERE state = 'pending'),"
    "        count(*) FILTER (WHERE poison), coalesce(string_agg(id::text, ',') FILTER (WHERE poison), '')"
    " FROM u";

static const char s_release_sql[] =
    "WITH u AS (UPDATE tasks t SET"
    "         state = CASE WHEN j.state = 'cancelled' THEN 'cancelled'::task_state"
    "                      ELSE 'pending'::task_state END,"
    "         attempt = greatest(t.attempt - 1, 0), lease_expires = NULL"
    "       FROM b_release b, jobs j"
    "       WHERE t.id = b.id AND t.attempt = b.attempt AND t.state = 'leased' AND j.id = t.job_id"
    "       RETURNING 1) SELECT count(*) FROM u";

/* The id of the first-stage task of job item number seq (job_items.seq comes from
 * one sequence, so it is unique across jobs): fixed by the item, not drawn from
 * tasks_id_seq, so a broker that takes over writes a claimed item whose task its
 * predecessor never wrote under the very id the worker running it holds (its late
 * result is then stored, not paid for again). Bit 62 keeps these ids apart from the
 * sequence's. */
#define S_FIRST_ID(seq) "((1::bigint << 62) | (" seq ")::bigint)"

/* A claim only reads: the lease is written by the next flush (s_lease_sql), unless
 * the task's result, failure or release arrives first, in which case that one
 * write takes the task from pending straight to its outcome. A claimed task is
 * never claimed twice: the next claim runs after the lease writes in the same
 * transaction, and only the broker holding the advisory lock claims. */
static const char s_claim_sql[] =
    "WITH q AS (SELECT * FROM unnest($1::bigint[], $2::integer[]) AS q(job_id, lim)),"
    /* tasks written as pending: retries, later stages, recovered items */
    " p AS (SELECT t.id, t.attempt + 1 AS attempt, t.job_id, t.stage_id, t.item_id, t.input,"
    "              t.priority, false AS virt, 0::bigint AS seq"
    "       FROM q CROSS JOIN LATERAL"
    "        (SELECT id, attempt, job_id, stage_id, item_id, input, priority FROM tasks"
    "         WHERE state = 'pending' AND job_id = q.job_id AND kind = $3"
    "         AND not_before <= now() ORDER BY priority DESC, id LIMIT q.lim) t),"
    /* then the job's next items for its first stage, behind the stage's cursor */
    " pn AS (SELECT q.job_id, q.lim - (SELECT count(*) FROM p WHERE p.job_id = q.job_id) AS lim"
    "        FROM q),"
    " v AS (SELECT " S_FIRST_ID("ji.seq") " AS id, 1 AS attempt, s.job_id,"
    "              s.id AS stage_id, ji.item_id, NULL::jsonb AS input, ji.priority,"
    "              true AS virt, ji.seq"
    "       FROM pn JOIN stages s ON s.job_id = pn.job_id AND s.idx = 0 AND s.kind = $3"
    "       CROSS JOIN LATERAL (SELECT seq, item_id, priority FROM job_items"
    "                           WHERE job_id = pn.job_id AND seq > s.claimed_seq"
    "                           ORDER BY seq LIMIT greatest(pn.lim, 0)) ji),"
    " adv AS (UPDATE stages s SET claimed_seq = m.seq"
    "         FROM (SELECT stage_id, max(seq) AS seq FROM v GROUP BY stage_id) m"
    "         WHERE s.id = m.stage_id RETURNING 1),"
    " u AS (SELECT * FROM p UNION ALL SELECT * FROM v)"
    " SELECT u.id, u.attempt, u.job_id, u.stage_id, st.timeout_s,"
    /* a generate task gets the samples its shape already paid for (llm_cache) */
    "        CASE WHEN $3 = 'generate' THEN coalesce(u.input, i.record, '{}'::jsonb)"
    "             || coalesce((SELECT jsonb_build_object('cached', jsonb_agg(c.response))"
    "                          FROM llm_cache c WHERE c.family = encode(sha256(convert_to("
    "                            st.params::text || (coalesce(u.input, i.record, '{}'::jsonb)"
    "                            - 'cached')::text, 'UTF8')), 'hex') HAVING count(*) > 0),"
    "                         '{}'::jsonb)"
    "             ELSE coalesce(u.input, i.record, '{}'::jsonb) END::text,"
    "        u.virt, u.item_id, u.priority"
    " FROM u LEFT JOIN items i ON i.id = u.item_id JOIN stages st ON st.id = u.stage_id"
    " ORDER BY u.virt, u.priority DESC, u.id";

/* first-stage tasks claimed from job_items that need a row before their failure,
 * release or lease is written: pending, with no attempt counted yet */
static const char s_virt_sql[] =
    "WITH v AS (INSERT INTO tasks (id, job_id, stage_id, item_id, kind, state, max_attempts,"
    "                              priority)"
    "           SELECT b.id, s.job_id, b.stage_id, b.item_id, s.kind,"
    "                  CASE WHEN j.state = 'cancelled' THEN 'cancelled'::task_state"
    "                       ELSE 'pending'::task_state END, s.max_attempts, b.priority"
    "           FROM b_virt b JOIN stages s ON s.id = b.stage_id JOIN jobs j ON j.id = s.job_id"
    "           ON CONFLICT (id) DO NOTHING RETURNING 1)"
    " SELECT count(*) FROM v";

/* after a broker died: items it claimed (behind the cursor) whose task it never
 * wrote get a pending task. Like its recovered leases, such a task waits the
 * recovery grace ($1 ms, capped by the stage's timeout) before it is claimed: it is
 * probably still running on a worker, whose late result (for a task id no row has)
 * puts its samples into llm_cache, where this task's claim then finds them */
static const char s_gaps_sql[] =
    "WITH g AS (INSERT INTO tasks (id, job_id, stage_id, item_id, kind, max_attempts,"
    "                              priority, not_before)"
    "           SELECT " S_FIRST_ID("ji.seq") ", s.job_id, s.id, ji.item_id, s.kind,"
    "                  s.max_attempts, ji.priority,"
    "                  now() + make_interval(secs => least($1::integer / 1000.0, s.timeout_s))"
    "           FROM stages s JOIN jobs j ON j.id = s.job_id"
    "           JOIN job_items ji ON ji.job_id = s.job_id AND ji.seq <= s.claimed_seq"
    "           WHERE s.idx = 0 AND s.claimed_seq > 0 AND j.state IN ('running', 'paused')"
    "             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.stage_id = s.id"
    "                             AND t.item_id = ji.item_id)"
    "           ORDER BY ji.seq RETURNING 1)"
    " SELECT count(*) FROM g";

/* the leases of tasks claimed by the previous pass that have not reported yet */
static const char s_lease_sql[] =
    "WITH u AS (UPDATE tasks t SET state = 'leased', attempt = b.attempt, started_at = now(),"
    "         lease_expires = now() + make_interval(secs => s.timeout_s + " S_LEASE_GRACE_S ")"
    "       FROM b_lease b, stages s"
    "       WHERE t.id = b.id AND t.state = 'pending' AND t.attempt = b.attempt - 1"
    "         AND s.id = t.stage_id RETURNING 1)"
    " SELECT count(*) FROM u";

const char *assay_store_ignored_name(int reason)
{
    static const char *const names[ASSAY_IGNORED_N] = {
        "stale_attempt", "duplicate", "replayed", "task_ended", "unknown_task", "other"};
    return reason >= 0 && reason < ASSAY_IGNORED_N ? names[reason] : "other";
}

static void s_err(assay_store_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what,
             self->db ? assay_db_error(self->db) : "no connection");
    log_error("store", "%s", self->error);
}

/* wait for the statement sent on the main connection, serving workers meanwhile */
static PGresult *s_wait(assay_store_t *self)
{
    self->busy = 1;
    PGresult *res = NULL;
    int fd = PQsocket(assay_db_conn(self->db));
    for (;;) {
        int done = 0;
        res = assay_db_poll_result(self->db, &done);
        if (done) break;
        self->idle_fn(self->idle_arg);
        struct timeval tv = {0, 1000};
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        select(fd + 1, &fds, NULL, NULL, &tv);
    }
    self->busy = 0;
    return res;
}

/* a prepared statement of a flush: with an idle function, the broker goes on
 * reading reports and handing out tasks while Postgres works */
static PGresult *s_prepared(assay_store_t *self, const char *name, int n, const char *const *p)
{
    if (!self->idle_fn) return assay_db_query_prepared(self->db, name, n, p);
    if (assay_db_send_prepared(self->db, name, n, p) != 0) return NULL;
    return s_wait(self);
}

static int s_commit(assay_store_t *self)
{
    if (!self->idle_fn) return assay_db_commit(self->db);
    if (assay_db_send(self->db, "COMMIT") != 0) return -1;
    PGresult *res = s_wait(self);
    if (!res) return -1;
    PQclear(res);
    return 0;
}

int assay_store_busy(const assay_store_t *self)
{
    return self->busy;
}

static int s_connect(assay_store_t *self)
{
    char err[512];
    assay_db_destroy(&self->db);
    self->db = assay_db_connect(self->conninfo, "assay-broker", err, sizeof err);
    if (!self->db) {
        snprintf(self->error, sizeof self->error, "%s", err);
        return -1;
    }
    /* the hot statements are planned once per connection, not once per pass */
    if (assay_db_exec(self->db, s_setup_sql) != 0 ||
        assay_db_prepare(self->db, "results", s_results_sql, 0) != 0 ||
        assay_db_prepare(self->db, "chain", s_chain_sql, 0) != 0 ||
        assay_db_prepare(self->db, "results_lean", s_results_lean_sql, 0) != 0 ||
        assay_db_prepare(self->db, "fails", s_fails_sql, 1) != 0 ||
        assay_db_prepare(self->db, "release", s_release_sql, 0) != 0 ||
        assay_db_prepare(self->db, "lease", s_lease_sql, 0) != 0 ||
        assay_db_prepare(self->db, "virt", s_virt_sql, 0) != 0 ||
        assay_db_prepare(self->db, "gaps", s_gaps_sql, 1) != 0 ||
        assay_db_prepare(self->db, "side_guarded", s_side_guarded_sql, 8) != 0 ||
        assay_db_prepare(self->db, "claim", s_claim_sql, 3) != 0) {
        s_err(self, "could not prepare the broker session");
        return -1;
    }
    /* a new session may follow a broker (or a commit) that was lost */
    self->gaps_due = 1;
    return 0;
}

/* ---- the side writer ---- */

static void s_side_batch_release(s_side_batch_t *b)
{
    assay_buf_t *bufs[] = {&b->id, &b->attempt, &b->output, &b->worker,
                           &b->elapsed, &b->stage, &b->item, &b->prio};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) assay_buf_release(bufs[i]);
    memset(b, 0, sizeof *b);
}

/* an array-literal element: quoted, with " and \ escaped */
static void s_array_text(assay_buf_t *b, int first, const char *v, size_t len)
{
    assay_buf_addc(b, first ? '{' : ',');
    assay_buf_addc(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '"' || v[i] == '\\') assay_buf_addc(b, '\\');
        assay_buf_addc(b, v[i]);
    }
    assay_buf_addc(b, '"');
}

static void s_side_add(s_side_batch_t *b, const s_claimed_t *c, uint32_t attempt,
                       const char *output, size_t output_len, const char *worker,
                       double elapsed_ms)
{
    int first = b->n == 0;
    char sep = first ? '{' : ',';
    assay_buf_addf(&b->id, "%c%llu", sep, (unsigned long long)c->id);
    assay_buf_addf(&b->attempt, "%c%u", sep, attempt);
    s_array_text(&b->output, first, output, output_len);
    if (output_len != 2 || memcmp(output, "{}", 2) != 0) b->outputs = 1;
    s_array_text(&b->worker, first, worker, strlen(worker));
    assay_buf_addf(&b->elapsed, "%c%.3f", sep, elapsed_ms);
    assay_buf_addf(&b->stage, "%c%llu", sep, (unsigned long long)c->stage_id);
    assay_buf_addf(&b->item, "%c%llu", sep, (unsigned long long)c->item_id);
    assay_buf_addf(&b->prio, "%c%d", sep, c->priority);
    b->n++;
    s_jobset_add(&b->jobs, c->job_id);
}

/* the statement's eight parameters; the arrays are closed here */
static void s_side_params(s_side_batch_t *b, const char **p)
{
    assay_buf_t *bufs[] = {&b->id, &b->attempt, &b->output, &b->worker,
                           &b->elapsed, &b->stage, &b->item, &b->prio};
    for (size_t i = 0; i < 8; i++) {
        if (bufs[i]->len == 0 || bufs[i]->data[bufs[i]->len - 1] != '}') assay_buf_addc(bufs[i], '}');
        p[i] = bufs[i]->data;
    }
}

static void s_side_count(s_side_batch_t *b, PGresult *res, assay_store_stats_t *stats)
{
    if (!stats) return;
    uint64_t stored = PQntuples(res) > 0 ? strtoull(PQgetvalue(res, 0, 0), NULL, 10)
                                         : strtoull(PQcmdTuples(res), NULL, 10);
    stats->results_stored += stored;
    /* a side batch holds claims written nowhere else: a row already there means
     * this batch was written before (its outcome was lost) */
    uint64_t ign = (uint64_t)b->n > stored ? (uint64_t)b->n - stored : 0;
    stats->ignored[ASSAY_IGNORED_REPLAYED] += ign;
    stats->results_ignored += ign;
}

/* write a side batch on the main connection (inside its open transaction, or on
 * its own); 0 or -1 */
static int s_side_write_main(assay_store_t *self, s_side_batch_t *b, assay_store_stats_t *stats)
{
    if (b->n == 0) return 0;
    const char *p[8];
    s_side_params(b, p);
    PGresult *res = assay_db_query_prepared(self->db, "side_guarded", 8, p);
    if (!res) return -1;
    s_side_count(b, res, stats);
    PQclear(res);
    s_side_batch_release(b);
    return 0;
}

static int s_side_connect(assay_store_t *self)
{
    char err[512];
    assay_db_destroy(&self->side);
    self->side = assay_db_connect(self->conninfo, "assay-broker-side", err, sizeof err);
    if (!self->side) {
        log_warn("store", "side writer: %s", err);
        return -1;
    }
    if (assay_db_exec(self->side, "SET enable_hashjoin = off; SET enable_mergejoin = off") != 0 ||
        assay_db_prepare(self->side, "side", s_side_sql, 8) != 0 ||
        assay_db_prepare(self->side, "side_plain", s_side_plain_sql, 7) != 0 ||
        assay_db_prepare(self->side, "side_guarded", s_side_guarded_sql, 8) != 0) {
        log_warn("store", "side writer: could not prepare: %s", assay_db_error(self->side));
        assay_db_destroy(&self->side);
        return -1;
    }
    return 0;
}

/* wait for the statement in flight (if any) and take its outcome; on failure the
 * batch stays in side_sent, to be written again (a replay writes nothing twice) */
static void s_side_settle(assay_store_t *self, assay_store_stats_t *stats, int block)
{
    if (!self->side_busy) return;
    for (;;) {
        int done = 0;
        PGresult *res = assay_db_poll_result(self->side, &done);
        if (!done) {
            if (!block) return;
            struct timeval tv = {0, 20000};
            fd_set fds;
            FD_ZERO(&fds);
            int fd = PQsocket(assay_db_conn(self->side));
            if (fd < 0) {
                self->side_busy = 0;
                self->side_sent.replay = 1;
                assay_db_destroy(&self->side);
                return;
            }
            FD_SET(fd, &fds);
            select(fd + 1, &fds, NULL, NULL, &tv);
            continue;
        }
        self->side_busy = 0;
        if (res) {
            s_side_count(&self->side_sent, res, stats);
            PQclear(res);
            s_side_batch_release(&self->side_sent);
        } else {
            log_warn("store", "side writer: %s (the batch is written again)",
                     assay_db_error(self->side));
            self->side_sent.replay = 1;
            assay_db_destroy(&self->side);
            self->side_retry_ms = assay_clock_ms() + 1000;
        }
        return;
    }
}

int assay_store_side_flush(assay_store_t *self, assay_store_stats_t *stats)
{
    s_side_settle(self, stats, 1);
    if (s_side_write_main(self, &self->side_sent, stats) != 0 ||
        s_side_write_main(self, &self->side_next, stats) != 0) {
        s_err(self, "could not write results");
        return -1;
    }
    return 0;
}

int assay_store_side_fd(assay_store_t *self)
{
    return self->side_busy && self->side ? PQsocket(assay_db_conn(self->side)) : -1;
}

size_t assay_store_side_pending(const assay_store_t *self)
{
    return self->side_next.n + self->side_sent.n;
}

void assay_store_side_work(assay_store_t *self, assay_store_stats_t *stats)
{
    s_side_settle(self, stats, 0);
    if (self->side_busy) return;
    if (self->side_sent.n == 0) {
        if (self->side_next.n == 0) return;
        self->side_sent = self->side_next;
        memset(&self->side_next, 0, sizeof self->side_next);
    }
    if (!self->side) {
        if (assay_clock_ms() < self->side_retry_ms) return;
        if (s_side_connect(self) != 0) {
            self->side_retry_ms = assay_clock_ms() + 1000;
            return;
        }
    }
    const char *p[8];
    s_side_params(&self->side_sent, p);
    int rc;
    if (self->side_sent.replay || self->side_sent.outputs) {
        rc = assay_db_send_prepared(self->side, self->side_sent.replay ? "side_guarded" : "side", 8,
                                    p);
    } else {
        const char *q[7] = {p[0], p[1], p[3], p[4], p[5], p[6], p[7]};
        rc = assay_db_send_prepared(self->side, "side_plain", 7, q);
    }
    if (rc != 0) {
        log_warn("store", "side writer: %s", assay_db_error(self->side));
        assay_db_destroy(&self->side);
        self->side_sent.replay = 1;
        self->side_retry_ms = assay_clock_ms() + 1000;
        return;
    }
    self->side_busy = 1;
}

static void s_jobset_append(const s_jobset_t *set, assay_buf_t *out, int *overflow)
{
    for (size_t i = 0; i < set->n; i++) assay_buf_addf(out, ",%llu", (unsigned long long)set->ids[i]);
    if (set->overflow) *overflow = 1;
}

static void s_free_claimed(uint64_t id, void *value, void *arg)
{
    (void)id;
    (void)arg;
    free(value);
}

assay_store_t *assay_store_new(const char *conninfo, char *err, size_t errlen)
{
    assay_store_t *self = ASSAY_NEW(assay_store_t);
    self->conninfo = assay_strdup(conninfo ? conninfo : "");
    self->unleased = assay_imap_new();
    self->poison_deaths = ASSAY_STORE_POISON_DEATHS;
    if (s_connect(self) != 0) {
        snprintf(err, errlen, "%s", self->error);
        assay_store_destroy(&self);
        return NULL;
    }
    return self;
}

void assay_store_destroy(assay_store_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_store_t *self = *self_p;
    assay_db_destroy(&self->db);
    assay_buf_release(&self->results);
    assay_buf_release(&self->fails);
    assay_buf_release(&self->releases);
    assay_imap_each(self->unleased, s_free_claimed, NULL);
    assay_imap_destroy(&self->unleased);
    free(self->staged);
    assay_buf_release(&self->virt);
    assay_buf_release(&self->lease_buf);
    free(self->lease_ids);
    for (size_t i = 0; i < self->nleasing; i++) free(self->leasing[i]);
    free(self->leasing);
    assay_db_destroy(&self->side);
    s_side_batch_release(&self->side_next);
    s_side_batch_release(&self->side_sent);
    for (size_t i = 0; i < self->nstages; i++) {
        free(self->stages[i].kind);
        free(self->stages[i].name);
        free(self->stages[i].params);
        free(self->stages[i].endpoint);
    }
    free(self->stages);
    free(self->conninfo);
    free(self);
    *self_p = NULL;
}

const char *assay_store_error(const assay_store_t *self)
{
    return self->error;
}

int assay_store_fd(assay_store_t *self)
{
    return self->db ? PQsocket(assay_db_conn(self->db)) : -1;
}

int assay_store_poll_notify(assay_store_t *self)
{
    if (!self->db) return -1;
    PGconn *conn = assay_db_conn(self->db);
    if (!PQconsumeInput(conn)) return -1;
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

int assay_store_reconnect(assay_store_t *self)
{
    return s_connect(self);
}

int assay_store_try_lock(assay_store_t *self)
{
    PGresult *res = assay_db_query(self->db, S_LOCK_SQL, 0, NULL);
    if (!res) {
        s_err(self, "could not take the broker lock");
        return -1;
    }
    int got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return got;
}

static int s_count2(assay_store_t *self, const char *sql, int n, const char *const *params,
                    const char *what, uint64_t *a, uint64_t *b)
{
    PGresult *res = assay_db_query(self->db, sql, n, params);
    if (!res) {
        s_err(self, what);
        return -1;
    }
    if (a) *a = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    if (b && PQnfields(res) > 1) *b = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return 0;
}

int assay_store_recover(assay_store_t *self, int grace_ms, uint64_t *requeued, uint64_t *dead,
                        uint64_t *gaps)
{
    char g[16];
    snprintf(g, sizeof g, "%d", grace_ms > 0 ? grace_ms : 0);
    const char *p[] = {g};
    /* the tasks go back to pending, but are not claimed again for a while: their
     * workers usually outlive the broker, reconnect and report them (a pending
     * task takes the result of its current attempt), and running them again
     * would pay for their samples twice. A task's own timeout caps the wait. */
    int rc = s_count2(self,
                    "WITH u AS (UPDATE tasks t SET"
                    "  state = CASE WHEN t.attempt >= t.max_attempts THEN 'dead'::task_state"
                    "               ELSE 'pending'::task_state END,"
                    "  last_error = CASE WHEN t.attempt >= t.max_attempts"
                    "    THEN 'lease lost when the broker stopped, and no attempts left'"
                    "    ELSE t.last_error END,"
                    "  finished_at = CASE WHEN t.attempt >= t.max_attempts THEN now() END,"
                    "  not_before = now() + make_interval(secs => least($1::integer / 1000.0,"
                    "                                                   s.timeout_s)),"
                    "  lease_expires = NULL"
                    " FROM stages s WHERE s.id = t.stage_id AND t.state = 'leased' RETURNING t.state)"
                    " SELECT count(*) FILTER (WHERE state = 'pending'),"
                    "        count(*) FILTER (WHERE state = 'dead') FROM u",
                    1, p, "could not recover leases", requeued, dead);
    if (rc != 0) return -1;
    self->gap_grace_ms = grace_ms > 0 ? grace_ms : 0;
    PGresult *res = assay_db_query_prepared(self->db, "gaps", 1, p);
    if (!res) {
        s_err(self, "could not recover claimed items");
        return -1;
    }
    *gaps = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    self->gaps_due = 0;
    return 0;
}

int assay_store_expire_leases(assay_store_t *self, int grace_s, uint64_t *expired)
{
    char g[16];
    snprintf(g, sizeof g, "%d", grace_s);
    const char *p[] = {g};
    return s_count2(self,
                    "WITH u AS (UPDATE tasks SET"
                    "  state = CASE WHEN attempt >= max_attempts THEN 'dead'::task_state"
                    "               ELSE 'pending'::task_state END,"
                    "  last_error = 'lease expired', lease_expires = NULL,"
                    "  finished_at = CASE WHEN attempt >= max_attempts THEN now() END"
                    " WHERE state = 'leased'"
                    "   AND lease_expires < now() - make_interval(secs => $1::integer)"
                    " RETURNING 1) SELECT count(*) FROM u",
                    1, p, "could not expire leases", expired, NULL);
}

int assay_store_load_jobs(assay_store_t *self, void (*fn)(const assay_store_job_t *job, void *arg),
                          void *arg)
{
    PGresult *res = assay_db_query(self->db,
                                   "SELECT id, weight, priority, state = 'running' FROM jobs"
                                   " WHERE state IN ('running', 'paused', 'cancelled')"
                                   "   AND (state <> 'cancelled' OR finished_at IS NULL)"
                                   " ORDER BY id",
                                   0, NULL);
    if (!res) {
        s_err(self, "could not load jobs");
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        assay_store_job_t j;
        j.id = strtoull(PQgetvalue(res, r, 0), NULL, 10);
        j.weight = atoi(PQgetvalue(res, r, 1));
        j.priority = atoi(PQgetvalue(res, r, 2));
        j.running = strcmp(PQgetvalue(res, r, 3), "t") == 0;
        fn(&j, arg);
    }
    PQclear(res);
    return 0;
}

static void s_claimed_job(uint64_t id, void *value, void *arg)
{
    (void)id;
    const s_claimed_t *c = value;
    assay_buf_addf(arg, ",%llu", (unsigned long long)c->job_id);
}

int assay_store_finish_jobs(assay_store_t *self, const uint64_t *busy, size_t nbusy,
                            uint64_t *finished)
{
    /* jobs with work only the broker knows of (claimed, queued, running) are not done,
     * whatever Postgres says */
    assay_buf_t b = ASSAY_BUF_INIT;
    assay_buf_adds(&b, "{0");
    for (size_t i = 0; i < nbusy; i++) assay_buf_addf(&b, ",%llu", (unsigned long long)busy[i]);
    assay_imap_each(self->unleased, s_claimed_job, &b);
    for (size_t i = 0; i < self->nstaged; i++)
        assay_buf_addf(&b, ",%llu", (unsigned long long)self->staged[i].job_id);
    int overflow = 0;
    s_jobset_append(&self->side_next.jobs, &b, &overflow);
    s_jobset_append(&self->side_sent.jobs, &b, &overflow);
    s_jobset_append(&self->main_jobs, &b, &overflow);
    assay_buf_addc(&b, '}');
    if (overflow) {
        /* results of many jobs waiting to be written: look again later */
        assay_buf_release(&b);
        *finished = 0;
        return 0;
    }
    const char *p[] = {b.data};
    int rc = s_count2(self,
                    "WITH f AS (UPDATE jobs j SET state = 'done', finished_at = now()"
                    " WHERE j.state = 'running' AND j.id <> ALL($1::bigint[])"
                    "   AND NOT EXISTS (SELECT 1 FROM stages s WHERE s.job_id = j.id AND s.idx = 0"
                    "                   AND EXISTS (SELECT 1 FROM job_items ji WHERE ji.job_id = j.id"
                    "                               AND ji.seq > s.claimed_seq))"
                    "   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id"
                    "                   AND t.state = 'pending')"
                    "   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id"
                    "                   AND t.state = 'leased')"
                    " RETURNING 1),"
                    " c AS (UPDATE jobs j SET finished_at = now() WHERE j.state = 'cancelled'"
                    "   AND j.finished_at IS NULL AND j.id <> ALL($1::bigint[])"
                    "   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id"
                    "                   AND t.state = 'leased') RETURNING 1)"
                    " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM c)",
                    1, p, "could not finish jobs", finished, NULL);
    assay_buf_release(&b);
    return rc;
}

const assay_store_stage_t *assay_store_stage(assay_store_t *self, uint64_t stage_id)
{
    for (size_t i = 0; i < self->nstages; i++)
        if (self->stages[i].id == stage_id) return &self->stages[i];
    if (self->busy) {
        snprintf(self->error, sizeof self->error, "stage %llu not loaded yet",
                 (unsigned long long)stage_id);
        return NULL;
    }
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)stage_id);
    const char *p[] = {id};
    PGresult *res = assay_db_query(self->db,
                                   "SELECT job_id, kind, params::text, timeout_s, max_attempts,"
                                   " name,"
                                   " kind IN ('generate', 'verify', 'hack_check', 'judge')"
                                   "  OR EXISTS (SELECT 1 FROM stages n WHERE n.job_id = s.job_id"
                                   "             AND n.idx = s.idx + 1)"
                                   " FROM stages s WHERE id = $1",
                                   1, p);
    if (!res) {
        s_err(self, "could not load stage");
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(self->error, sizeof self->error, "stage %s does not exist", id);
        return NULL;
    }
    if (self->nstages == self->cap_stages) {
        self->cap_stages = self->cap_stages ? self->cap_stages * 2 : 16;
        self->stages = assay_realloc(self->stages, self->cap_stages * sizeof *self->stages);
    }
    assay_store_stage_t *s = &self->stages[self->nstages++];
    s->id = stage_id;
    s->job_id = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    s->kind = assay_strdup(PQgetvalue(res, 0, 1));
    s->params = assay_strdup(PQgetvalue(res, 0, 2));
    s->timeout_ms = (uint32_t)atoi(PQgetvalue(res, 0, 3)) * 1000u;
    s->max_attempts = atoi(PQgetvalue(res, 0, 4));
    s->name = assay_strdup(PQgetvalue(res, 0, 5));
    s->chained = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
    PQclear(res);
    s->endpoint = NULL;
    s->requests = 1;
    s->tokens = 1536;
    json_error_t jerr;
    json_t *params = json_loads(s->params, 0, &jerr);
    json_t *ep = json_object_get(params, "endpoint");
    if (json_is_string(ep)) s->endpoint = assay_strdup(json_string_value(ep));
    json_t *n = json_object_get(params, "n");
    if (json_is_integer(n) && json_integer_value(n) > 0) s->requests = (double)json_integer_value(n);
    json_t *mt = json_object_get(params, "max_tokens");
    double per = json_is_integer(mt) && json_integer_value(mt) > 0 ? (double)json_integer_value(mt) : 1024;
    s->tokens = s->requests * per + 512;
    json_decref(params);
    return s;
}

int assay_store_waiting_kinds(assay_store_t *self,
                              void (*fn)(const char *kind, uint64_t job_id, const char *stage,
                                         void *arg),
                              void *arg)
{
    PGresult *res = assay_db_query(
        self->db,
        "SELECT DISTINCT ON (s.kind) s.kind, s.job_id, s.name"
        " FROM stages s JOIN jobs j ON j.id = s.job_id"
        " WHERE j.state = 'running' AND s.kind <> 'filter'"
        "   AND (s.idx = 0 AND EXISTS (SELECT 1 FROM job_items ji WHERE ji.job_id = s.job_id"
        "                              AND ji.seq > s.claimed_seq)"
        "        OR EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = s.job_id AND t.kind = s.kind"
        "                   AND t.state = 'pending' AND t.stage_id = s.id))"
        " ORDER BY s.kind, s.job_id, s.idx",
        0, NULL);
    if (!res) {
        s_err(self, "could not look for waiting stages");
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++)
        fn(PQgetvalue(res, r, 0), strtoull(PQgetvalue(res, r, 1), NULL, 10), PQgetvalue(res, r, 2),
           arg);
    PQclear(res);
    return 0;
}

long assay_store_claim(assay_store_t *self, const char *kind, const uint64_t *job_ids,
                       const int *limits, size_t njobs, assay_queue_t *q)
{
    if (njobs == 0) return 0;
    assay_buf_t jobs = ASSAY_BUF_INIT, lims = ASSAY_BUF_INIT;
    assay_buf_addc(&jobs, '{');
    assay_buf_addc(&lims, '{');
    for (size_t i = 0; i < njobs; i++) {
        assay_buf_addf(&jobs, "%s%llu", i ? "," : "", (unsigned long long)job_ids[i]);
        assay_buf_addf(&lims, "%s%d", i ? "," : "", limits[i]);
    }
    assay_buf_addc(&jobs, '}');
    assay_buf_addc(&lims, '}');
    const char *p[] = {jobs.data, lims.data, kind};
    PGresult *res = s_prepared(self, "claim", 3, p);
    assay_buf_release(&jobs);
    assay_buf_release(&lims);
    if (!res) {
        s_err(self, "could not claim tasks");
        return -1;
    }
    int n = PQntuples(res);
    int64_t now = assay_clock_ms();
    for (int r = 0; r < n; r++) {
        assay_qtask_t *t = ASSAY_NEW(assay_qtask_t);
        t->id = strtoull(PQgetvalue(res, r, 0), NULL, 10);
        t->attempt = (uint32_t)strtoul(PQgetvalue(res, r, 1), NULL, 10);
        t->job_id = strtoull(PQgetvalue(res, r, 2), NULL, 10);
        t->stage_id = strtoull(PQgetvalue(res, r, 3), NULL, 10);
        t->timeout_ms = (uint32_t)strtoul(PQgetvalue(res, r, 4), NULL, 10) * 1000u;
        /* the lease in Postgres is timeout + grace; keep a margin for clock skew */
        t->lease_deadline_ms = now + t->timeout_ms + 30000;
        t->kind = assay_strdup(kind);
        t->input_len = (size_t)PQgetlength(res, r, 5);
        t->input = assay_strndup(PQgetvalue(res, r, 5), t->input_len);
        if (self->nstaged == self->cap_staged) {
            self->cap_staged = self->cap_staged ? self->cap_staged * 2 : 1024;
            self->staged = assay_realloc(self->staged, self->cap_staged * sizeof *self->staged);
        }
        s_claimed_t *c = &self->staged[self->nstaged++];
        c->id = t->id;
        c->attempt = t->attempt;
        c->is_virtual = strcmp(PQgetvalue(res, r, 6), "t") == 0;
        c->job_id = t->job_id;
        c->stage_id = t->stage_id;
        c->item_id = strtoull(PQgetvalue(res, r, 7), NULL, 10);
        c->priority = atoi(PQgetvalue(res, r, 8));
        assay_queue_push(q, t);
    }
    PQclear(res);
    return n;
}

int assay_store_save_workers(assay_store_t *self, const char *const *names,
                             const char *const *slots_json, const long long *done,
                             const long long *failed, size_t n)
{
    /* text arrays are sent as JSON (no array-literal quoting to get wrong) */
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *slots = json_loads(slots_json[i], 0, &jerr);
        json_array_append_new(arr, json_pack("{s:s,s:o,s:I,s:I}", "name", names[i], "slots",
                                             slots ? slots : json_object(), "done",
                                             (json_int_t)done[i], "failed",
                                             (json_int_t)failed[i]));
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    const char *p[] = {text};
    int rc = assay_db_execp(
        self->db,
        "WITH w AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
        "           AS w(name text, slots jsonb, done bigint, failed bigint)),"
        " up AS (INSERT INTO workers (name, slots, last_seen, connected, done, failed)"
        "        SELECT name, slots, now(), true, done, failed FROM w"
        "        ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, last_seen = now(),"
        "          connected = true, done = excluded.done, failed = excluded.failed RETURNING 1)"
        " UPDATE workers SET connected = false"
        " WHERE connected AND name NOT IN (SELECT name FROM w)",
        1, p);
    free(text);
    if (rc != 0) s_err(self, "could not save workers");
    return rc == 0 ? 0 : -1;
}

/* a report for a claim whose lease is not written yet: the report's own write
 * takes the task from pending (or from nothing, for a first-stage task claimed
 * from job_items) to its outcome, the lease is never written. Returns the claim
 * (the caller frees it) or NULL when the report is for a written task. */
static s_claimed_t *s_report_unleased(assay_store_t *self, uint64_t id, uint32_t attempt)
{
    s_claimed_t *c = assay_imap_get(self->unleased, id);
    if (!c || c->attempt != attempt) return NULL;
    assay_imap_del(self->unleased, id);
    return c;
}

/* a b_virt row (COPY text): the pending row of a first-stage task claimed from job_items */
static void s_virt_row(assay_buf_t *b, const s_claimed_t *c)
{
    assay_buf_addf(b, "%llu\t%llu\t%llu\t%d\n", (unsigned long long)c->id,
                   (unsigned long long)c->stage_id, (unsigned long long)c->item_id, c->priority);
}

static void s_add_virt(assay_store_t *self, const s_claimed_t *c)
{
    s_virt_row(&self->virt, c);
    self->nvirt++;
    s_jobset_add(&self->main_jobs, c->job_id);
}

void assay_store_add_result(assay_store_t *self, uint64_t id, uint32_t attempt, uint64_t stage_id,
                            const char *output, size_t output_len, const char *worker,
                            double elapsed_ms)
{
    s_claimed_t *c = s_report_unleased(self, id, attempt);
    if (c) stage_id = c->stage_id;
    if (c && c->is_virtual && !self->gaps_due) {
        /* written on the side connection, unless it is to be chained */
        const assay_store_stage_t *st = assay_store_stage(self, stage_id);
        if (st && !st->chained) {
            s_side_add(&self->side_next, c, attempt, output, output_len, worker, elapsed_ms);
            free(c);
            return;
        }
    }
    {
        /* a stage not known here (a result from before a restart) takes the full path */
        const assay_store_stage_t *st = stage_id ? assay_store_stage(self, stage_id) : NULL;
        if (!st || st->chained) self->full_mark = self->nresults + 1;
    }
    if (c && c->is_virtual) s_jobset_add(&self->main_jobs, c->job_id);
    assay_buf_t *b = &self->results;
    assay_buf_addf(b, "%llu\t%u\t", (unsigned long long)id, attempt);
    assay_db_copy_escape(b, output, output_len);
    assay_buf_addc(b, '\t');
    assay_db_copy_escape(b, worker, strlen(worker));
    if (c && c->is_virtual)
        assay_buf_addf(b, "\t%.3f\t%llu\t%llu\t%d\n", elapsed_ms, (unsigned long long)c->stage_id,
                       (unsigned long long)c->item_id, c->priority);
    else
        assay_buf_addf(b, "\t%.3f\t\\N\t\\N\t\\N\n", elapsed_ms);
    self->nresults++;
    free(c);
}

static void s_add_fail(assay_store_t *self, uint64_t id, uint32_t attempt, int retryable,
                       uint32_t delay_ms, const char *reason, const char *worker, int died)
{
    s_claimed_t *c = s_report_unleased(self, id, attempt);
    if (c && c->is_virtual) s_add_virt(self, c);
    free(c);
    assay_buf_t *b = &self->fails;
    assay_buf_addf(b, "%llu\t%u\t%s\t%u\t", (unsigned long long)id, attempt, retryable ? "t" : "f",
                   delay_ms);
    assay_db_copy_escape(b, reason, strlen(reason));
    assay_buf_addc(b, '\t');
    assay_db_copy_escape(b, worker, strlen(worker));
    assay_buf_adds(b, died ? "\tt\n" : "\tf\n");
    self->nfails++;
}

void assay_store_add_fail(assay_store_t *self, uint64_t id, uint32_t attempt, int retryable,
                          uint32_t delay_ms, const char *reason, const char *worker)
{
    s_add_fail(self, id, attempt, retryable, delay_ms, reason, worker, 0);
}

void assay_store_add_lost(assay_store_t *self, uint64_t id, uint32_t attempt, uint32_t delay_ms,
                          const char *reason, const char *worker)
{
    s_add_fail(self, id, attempt, 1, delay_ms, reason, worker, 1);
}

void assay_store_set_poison_deaths(assay_store_t *self, int deaths)
{
    self->poison_deaths = deaths > 0 ? deaths : 0;
}

void assay_store_add_release(assay_store_t *self, uint64_t id, uint32_t attempt)
{
    /* never leased in Postgres: it is still pending there with its old attempt, or
     * (first stage) it gets its pending row now */
    s_claimed_t *c = s_report_unleased(self, id, attempt);
    if (c) {
        if (c->is_virtual) s_add_virt(self, c);
        free(c);
        return;
    }
    assay_buf_addf(&self->releases, "%llu\t%u\n", (unsigned long long)id, attempt);
    self->nreleases++;
}

size_t assay_store_pending(const assay_store_t *self)
{
    return self->nresults + self->nfails + self->nreleases + self->nvirt;
}

void assay_store_dispatched(assay_store_t *self, uint64_t id, uint32_t attempt)
{
    s_claimed_t *c = assay_imap_get(self->unleased, id);
    if (c && c->attempt == attempt) c->since_ms = assay_clock_ms();
}

size_t assay_store_unleased(const assay_store_t *self)
{
    return assay_imap_size(self->unleased);
}

/* A pending task claimed by the previous pass must be leased before this pass
 * claims, or it would be claimed again. A first-stage task claimed from job_items
 * cannot be (the stage's cursor is past it), so its row waits a moment longer for
 * its result: most such tasks are then written once, done. */
static void s_lease_row(uint64_t id, void *value, void *arg)
{
    assay_store_t *self = arg;
    s_claimed_t *c = value;
    if (c->is_virtual && !self->lease_all &&
        (c->since_ms == 0 || self->lease_now - c->since_ms < ASSAY_STORE_LEASE_DELAY_MS))
        return;
    if (self->nlease_ids == self->cap_lease_ids) {
        self->cap_lease_ids = self->cap_lease_ids ? self->cap_lease_ids * 2 : 256;
        self->lease_ids = assay_realloc(self->lease_ids, self->cap_lease_ids * sizeof *self->lease_ids);
    }
    self->lease_ids[self->nlease_ids++] = id;
}

static int s_copy(assay_store_t *self, const char *sql, const assay_buf_t *b)
{
    if (assay_db_copy_begin(self->db, sql) != 0) return -1;
    if (assay_db_copy_send(self->db, b->data, b->len) != 0) {
        PQputCopyEnd(assay_db_conn(self->db), "aborted");
        PGresult *r;
        while ((r = PQgetResult(assay_db_conn(self->db))) != NULL) PQclear(r);
        return -1;
    }
    return assay_db_copy_end(self->db);
}

/* write the part of the batch queued since the last round (from the offsets in
 * self->done_*): results and what they set in motion, failures, releases */
/* Reports keep arriving while a statement runs (the broker serves workers then):
 * each part is cut where its buffer ends before the COPY, and only what was cut
 * counts as written. */
static int s_write_round(assay_store_t *self, uint64_t *stored, uint64_t *total,
                         uint64_t *created, uint64_t *dead, uint64_t *retried, uint64_t *released,
                         uint64_t *ign, int again)
{
    assay_buf_t part;
    /* one cut for all four: a failure's pending row (virt) must be written no later
     * than the failure itself */
    size_t nv = self->nvirt, endv = self->virt.len, nr = self->nresults, endr = self->results.len;
    size_t nf = self->nfails, endf = self->fails.len, nl = self->nreleases, endl = self->releases.len;
    int chain = 0;
    /* temp tables empty themselves at commit; later rounds of one transaction must
     * not see the rows of the earlier ones */
    if (again && (nf > self->round_fails || nr > self->round_results) &&
        assay_db_exec(self->db, "DELETE FROM b_done") != 0)
        return -1;
    if (nv > self->round_virt) {
        if (again && assay_db_exec(self->db, "DELETE FROM b_virt") != 0) return -1;
        part = (assay_buf_t){self->virt.data + self->round_virt_off, endv - self->round_virt_off, 0};
        if (s_copy(self, "COPY b_virt FROM STDIN", &part) != 0) return -1;
        PGresult *res = s_prepared(self, "virt", 0, NULL);
        if (!res) return -1;
        PQclear(res);
        self->round_virt = nv;
        self->round_virt_off = endv;
    }
    /* failures first: a task that dies goes into b_done for the chain statement */
    if (nf > self->round_fails) {
        if (again && assay_db_exec(self->db, "DELETE FROM b_fails") != 0) return -1;
        part = (assay_buf_t){self->fails.data + self->round_fails_off, endf - self->round_fails_off, 0};
        if (s_copy(self, "COPY b_fails FROM STDIN", &part) != 0) return -1;
        char lim[16];
        snprintf(lim, sizeof lim, "%d", self->poison_deaths);
        const char *fp[] = {lim};
        PGresult *res = s_prepared(self, "fails", 1, fp);
        if (!res) return -1;
        uint64_t d = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        *dead += d;
        *retried += strtoull(PQgetvalue(res, 0, 1), NULL, 10);
        uint64_t poisoned = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
        if (poisoned) {
            self->round_poisoned += poisoned;
            log_warn("store", "%llu tasks dead after %d workers died running each (possible"
                     " poison input): %.200s", (unsigned long long)poisoned, self->poison_deaths,
                     PQgetvalue(res, 0, 3));
        }
        PQclear(res);
        if (d) chain = 1;
        self->round_fails = nf;
        self->round_fails_off = endf;
    }
    if (nr > self->round_results) {
        int full = self->full_mark > self->round_results;
        if (again && assay_db_exec(self->db, "DELETE FROM b_results") != 0) return -1;
        part = (assay_buf_t){self->results.data + self->round_results_off,
                             endr - self->round_results_off, 0};
        if (s_copy(self, "COPY b_results FROM STDIN", &part) != 0) return -1;
        PGresult *res = s_prepared(self, full ? "results" : "results_lean", 0, NULL);
        if (!res) return -1;
        uint64_t st = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        uint64_t tot = strtoull(PQgetvalue(res, 0, 1), NULL, 10), why = 0;
        for (int k = 0; k < ASSAY_IGNORED_N; k++) {
            uint64_t n = strtoull(PQgetvalue(res, 0, 4 + k), NULL, 10);
            ign[k] += n;
            why += n;
        }
        /* the rest: results the batch held twice (one of them was looked at) */
        if (tot > st + why) ign[ASSAY_IGNORED_DUPLICATE] += tot - st - why;
        *stored += st;
        *total += tot;
        PQclear(res);
        if (full) chain = 1;
        self->round_results = nr;
        self->round_results_off = endr;
    }
    if (chain) {
        PGresult *res = s_prepared(self, "chain", 0, NULL);
        if (!res) return -1;
        *created += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    if (nl > self->round_releases) {
        if (again && assay_db_exec(self->db, "DELETE FROM b_release") != 0) return -1;
        part = (assay_buf_t){self->releases.data + self->round_releases_off,
                             endl - self->round_releases_off, 0};
        if (s_copy(self, "COPY b_release FROM STDIN", &part) != 0) return -1;
        PGresult *res = s_prepared(self, "release", 0, NULL);
        if (!res) return -1;
        *released += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        self->round_releases = nl;
        self->round_releases_off = endl;
    }
    return 0;
}

static void s_consume(assay_buf_t *b, size_t n)
{
    if (n >= b->len) {
        assay_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

static void s_rounds_reset(assay_store_t *self)
{
    self->round_results = self->round_fails = self->round_releases = self->round_virt = 0;
    self->round_results_off = self->round_fails_off = self->round_releases_off = 0;
    self->round_virt_off = 0;
}

int assay_store_flush(assay_store_t *self, assay_store_stats_t *stats,
                      int (*drain)(void *arg), int (*in_txn)(void *arg), void *arg)
{
    if (!self->db) return -1;
    uint64_t stored = 0, total = 0, created = 0, dead = 0, retried = 0, released = 0, leased = 0;
    uint64_t ign[ASSAY_IGNORED_N] = {0};
    self->round_poisoned = 0;
    int64_t t_0 = assay_clock_us();
    self->nstaged = 0;
    s_rounds_reset(self);
    if (self->gaps_due) {
        /* everything claimed must be written before looking for claimed items
         * without a task: the side writer's results too */
        s_side_settle(self, stats, 1);
        if (s_side_write_main(self, &self->side_sent, stats) != 0 ||
            s_side_write_main(self, &self->side_next, stats) != 0)
            goto fail;
    }
    if (assay_db_begin(self->db) != 0) goto fail;
    self->idle_fn = drain;
    self->idle_arg = arg;
    int rounds = 0;
    for (;;) {
        if (s_write_round(self, &stored, &total, &created, &dead, &retried, &released, ign, rounds > 0) != 0)
            goto fail;
        rounds++;
        /* reports that arrived meanwhile (typically the results of the tasks the
         * previous pass handed out) go into this transaction too: for a task whose
         * lease is not written yet, that makes one write instead of two */
        if (!drain || rounds >= 4 || drain(arg) <= 0) break;
    }
    int64_t t_l = assay_clock_us();
    self->nlease_ids = 0;
    if (assay_imap_size(self->unleased)) {
        /* still running: first-stage tasks get their row, then the leases are written.
         * The claims leave the unleased set now: a report that comes while this
         * runs updates the row like any other */
        self->lease_now = assay_clock_ms();
        /* all of them before the broker stops, and before looking for claimed items
         * without a task (they would look like that) */
        self->lease_all = in_txn == NULL || self->gaps_due;
        assay_imap_each(self->unleased, s_lease_row, self);
        if (self->nlease_ids > self->cap_leasing) {
            self->cap_leasing = self->nlease_ids;
            self->leasing = assay_realloc(self->leasing, self->cap_leasing * sizeof *self->leasing);
        }
        assay_buf_t virt = ASSAY_BUF_INIT;
        assay_buf_reset(&self->lease_buf);
        for (size_t k = 0; k < self->nlease_ids; k++) {
            s_claimed_t *c = assay_imap_del(self->unleased, self->lease_ids[k]);
            self->leasing[k] = c;
            if (c->is_virtual) s_virt_row(&virt, c);
            assay_buf_addf(&self->lease_buf, "%llu\t%u\n", (unsigned long long)c->id, c->attempt);
        }
        self->nleasing = self->nlease_ids;
        int rc = 0;
        if (virt.len) {
            PGresult *res = NULL;
            rc = assay_db_exec(self->db, "DELETE FROM b_virt") != 0 ||
                 s_copy(self, "COPY b_virt FROM STDIN", &virt) != 0 ||
                 (res = s_prepared(self, "virt", 0, NULL)) == NULL;
            PQclear(res);
        }
        assay_buf_release(&virt);
        if (rc) goto fail;
        if (self->nlease_ids) {
            if (s_copy(self, "COPY b_lease FROM STDIN", &self->lease_buf) != 0) goto fail;
            PGresult *res = s_prepared(self, "lease", 0, NULL);
            if (!res) goto fail;
            leased = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
            PQclear(res);
        }
    }
    /* Reports taken since the last round's cut (while its statements or the leases
     * ran, or by a last drain). Always, before the claims: a task claimed by an
     * earlier pass that reported before its lease was written is still pending
     * with its old attempt, so until its report is written the claim below would
     * take it again and hand it out a second time. After this, every such task is
     * leased or has its outcome (what reports later was leased above). */
    if (s_write_round(self, &stored, &total, &created, &dead, &retried, &released, ign, rounds > 0) != 0)
        goto fail;
    if (self->gaps_due) {
        char g[16];
        snprintf(g, sizeof g, "%d", self->gap_grace_ms);
        const char *gp[] = {g};
        PGresult *res = assay_db_query_prepared(self->db, "gaps", 1, gp);
        if (!res) goto fail;
        uint64_t gaps = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (gaps)
            log_info("store", "%llu claimed items had no task (their broker or commit was lost):"
                     " written as pending", (unsigned long long)gaps);
    }
    int64_t t_w = assay_clock_us();
    if (in_txn && in_txn(arg) != 0) goto fail;
    int64_t t_c = assay_clock_us();
    if (s_commit(self) != 0) goto fail;
    self->idle_fn = NULL;
    log_debug("store",
              "flush: %zu results, %zu fails, %zu releases in %d rounds %.1f ms; %llu leases"
              " %.1f ms; claims %.1f ms; commit %.1f ms",
              self->nresults, self->nfails, self->nreleases, rounds, (t_l - t_0) / 1000.0,
              (unsigned long long)leased, (t_w - t_l) / 1000.0, (t_c - t_w) / 1000.0,
              (assay_clock_us() - t_c) / 1000.0);
    if (stats) {
        stats->results_stored += stored;
        for (int k = 0; k < ASSAY_IGNORED_N; k++) {
            stats->ignored[k] += ign[k];
            stats->results_ignored += ign[k];
        }
        stats->poisoned += self->round_poisoned;
        stats->tasks_created += created;
        stats->fails_dead += dead;
        stats->fails_retried += retried;
        stats->released += released;
        stats->flushes++;
    }
    /* what was written goes; what came while the last statements ran stays */
    s_consume(&self->results, self->round_results_off);
    s_consume(&self->fails, self->round_fails_off);
    s_consume(&self->releases, self->round_releases_off);
    s_consume(&self->virt, self->round_virt_off);
    self->nresults -= self->round_results;
    self->full_mark = self->full_mark > self->round_results ? self->full_mark - self->round_results : 0;
    self->nfails -= self->round_fails;
    self->nreleases -= self->round_releases;
    self->nvirt -= self->round_virt;
    if (self->nresults + self->nfails + self->nvirt == 0) memset(&self->main_jobs, 0, sizeof self->main_jobs);
    s_rounds_reset(self);
    self->gaps_due = 0;
    /* written (or no longer pending); this pass's claims are leased by a later one */
    for (size_t i = 0; i < self->nleasing; i++) free(self->leasing[i]);
    self->nleasing = self->nlease_ids = 0;
    for (size_t i = 0; i < self->nstaged; i++) {
        s_claimed_t *c = ASSAY_NEW(s_claimed_t);
        *c = self->staged[i];
        c->since_ms = 0;
        free(assay_imap_put(self->unleased, c->id, c));
    }
    self->nstaged = 0;
    return 0;
fail:
    self->idle_fn = NULL;
    /* the leases were not written: their claims wait for the next flush again */
    for (size_t i = 0; i < self->nleasing; i++)
        free(assay_imap_put(self->unleased, self->leasing[i]->id, self->leasing[i]));
    self->nleasing = self->nlease_ids = 0;
    self->nstaged = 0; /* the broker discards this pass's claims */
    s_rounds_reset(self);
    self->full_mark = self->nresults; /* the replay may hold results of any stage */
    s_err(self, "could not write results");
    if (self->db && PQstatus(assay_db_conn(self->db)) == CONNECTION_OK)
        assay_db_rollback(self->db);
    return -1;
}
