/*  cmd_export.c: `assay export JOB`: stream a job's results to a JSONL file (rows
 *  are fetched one at a time, so memory stays flat however large the export) and
 *  record the export in the datasets table with its lineage. */
#include "ops/cli/cli.h"

#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_help[] =
    "usage: assay export JOB [--stage NAME] [--format FORMAT] [--min-score X]\n"
    "                    [--min-margin X] [-o FILE] [--json]\n"
    "\n"
    "Write a job's results as JSONL (to FILE, written atomically, or to stdout).\n"
    "formats:\n"
    "  samples    one line per generated sample: the item (question, options, gold\n"
    "             answer), the sample (reasoning, answer, model, endpoint, tokens, cost)\n"
    "             and lineage (job, stage, spec hash, template hash)\n"
    "  outputs    one line per task of the stage: its input with the output fields\n"
    "  sft        chat messages for supervised fine-tuning, reasoning kept in the\n"
    "             assistant message's reasoning_content; only samples that pass\n"
    "             rejection sampling: verified (score >= --min-score, default 0.8), no\n"
    "             hack check fired, and consistent when a consistency judge ran\n"
    "  sft-think  the same with the reasoning inline: <think>...</think>answer\n"
    "  best       best-of-k: per item the sample with the highest mean score over its\n"
    "             scorers (judges, verifier), hack-flagged samples excluded; at least\n"
    "             --min-score (default 0.8)\n"
    "  pairs      preference pairs per item: the best and the worst sample whose\n"
    "             scores differ by at least --min-margin (default 0.3)\n"
    "  rl         prompts with ground truth in the shape verl reads (data_source,\n"
    "             prompt, ability, reward_model, extra_info with the pass rate);\n"
    "             reward_model.style is \"rule\" when a rule checks the answer (mcq\n"
    "             letters, case diagnoses, items with gold codes) and \"model\" for\n"
    "             free-text gold such as a doctor's answer to an open question (the\n"
    "             ground truth is then a reference for a reward model or judge)\n"
    "  rl-openrlhf  the same as {input, label, reward_style} lines for OpenRLHF\n"
    "  grpo       one line per scored sample: prompt, response, reward (the composite\n"
    "             score: the spec's per-category \"composite\" weights over the scorers)\n"
    "             and its group-normalised advantage among the item's samples\n"
    "Every line carries its lineage: job, spec hash, stage, item id, and where they\n"
    "apply sample id, template hash and terminology version.\n"
    "Default stage: the last stage for outputs; for samples and the training formats\n"
    "the last generate stage (when it has no samples yet while an earlier one has,\n"
    "the command asks for --stage and lists them). Default format: samples for a\n"
    "generate stage, else outputs. An export of 0 rows says why on stderr. Each\n"
    "export to a file is recorded in the datasets table, with its lines per item.\n"
    "\n"
    "examples:\n"
    "  assay export 3 -o distill.jsonl\n"
    "  assay export 3 --format sft -o sft.jsonl\n"
    "  assay export 3 --format pairs --min-margin 0.5 -o pairs.jsonl\n"
    "  assay export 3 --stage leak --format outputs | head\n";

/* Every query yields (line, item id): the line is written, the item id counted
 * per item for dataset_items (what report_dataset_mix reads). */

/* the terminology version of a sample's rule-based scores (verify, hack_check) */
#define S_TERMS_SQL(id)                                                                            \
    "(SELECT coalesce(max(v.terms_version) FILTER (WHERE v.scorer = 'verify'),"                  \
    "   max(v.terms_version)) FROM scores v WHERE v.sample_id = " id ")"

/* lineage of a line made from one sample sa (with j, st, i joined) */
#define S_LINEAGE_SQL                                                                              \
    " 'lineage', jsonb_build_object('job', sa.job_id, 'spec_hash', j.spec_hash, 'stage', st.name," \
    "   'item_id', i.id, 'ext_id', i.ext_id, 'sample_id', sa.id, 'template_hash', sa.template_hash," \
    "   'terms_version', " S_TERMS_SQL("sa.id") ")"

static const char s_samples_sql[] =
    "SELECT jsonb_build_object("
    " 'job', sa.job_id, 'stage', st.name, 'item_id', i.id, 'ext_id', i.ext_id,"
    " 'dataset', i.dataset, 'kind', i.kind, 'question', i.question, 'options', i.options,"
    " 'gold', i.answer, 'category', i.category,"
    " 'sample', jsonb_build_object('sample_id', sa.id, 'task_id', sa.task_id, 'idx', sa.idx,"
    "   'reasoning', sa.reasoning, 'answer', sa.answer, 'model', sa.model,"
    "   'endpoint', sa.endpoint, 'template', sa.template, 'template_hash', sa.template_hash,"
    "   'prompt_tokens', sa.prompt_tokens, 'completion_tokens', sa.completion_tokens,"
    "   'reasoning_tokens', sa.reasoning_tokens, 'latency_ms', sa.latency_ms,"
    "   'cost_usd', sa.cost_usd, 'cached', sa.cached),"
    S_LINEAGE_SQL ")::text, i.id"
    " FROM samples sa JOIN items i ON i.id = sa.item_id JOIN stages st ON st.id = sa.stage_id"
    " JOIN jobs j ON j.id = sa.job_id"
    " WHERE sa.job_id = $1 AND sa.stage_id = $2 ORDER BY sa.item_id, sa.task_id, sa.idx";

/* per-sample stages carry sample_id in their input; judges report their template */
static const char s_outputs_sql[] =
    "SELECT ((coalesce(t.input, i.record, '{}'::jsonb) - 'cached') || coalesce(o.output, '{}'::jsonb)"
    " || jsonb_build_object('item_id', t.item_id, 'task_id', t.id, 'job', t.job_id,"
    " 'stage', s.name, 'lineage', jsonb_build_object('job', t.job_id, 'spec_hash', j.spec_hash,"
    "   'stage', s.name, 'item_id', t.item_id, 'ext_id', i.ext_id, 'task_id', t.id,"
    "   'sample_id', assay_jint(t.input->'sample_id'),"
    "   'template_hash', assay_jtext(o.output->'template_hash'),"
    "   'terms_version', assay_jtext(o.output->'terms_version'))))::text, t.item_id"
    " FROM tasks t LEFT JOIN items i ON i.id = t.item_id JOIN stages s ON s.id = t.stage_id"
    " JOIN jobs j ON j.id = t.job_id LEFT JOIN task_outputs o ON o.task_id = t.id"
    " WHERE t.job_id = $1 AND t.stage_id = $2 AND t.state = 'done'"
    " ORDER BY t.item_id, t.id";

/* the prompt of a sample: the generate task's input question (after leak removal:
 * the rebuilt question) with its options, as "A. text" lines */
#define S_PROMPT_SQL                                                                               \
    " CROSS JOIN LATERAL (SELECT coalesce(gt.input, i.record, '{}'::jsonb) AS inp) x"             \
    " CROSS JOIN LATERAL (SELECT coalesce(x.inp->>'question', x.inp->>'text', i.question)"       \
    "   || coalesce(E'\\n' || (SELECT string_agg(k || '. ' || v, E'\\n' ORDER BY k)"            \
    "      FROM jsonb_each_text(CASE WHEN jsonb_typeof(x.inp->'options') = 'object'"               \
    "           THEN x.inp->'options' END) AS o(k, v)), '') AS prompt) q"

/* rejection sampling: verified, no hack flag, consistent when judged */
#define S_SELECTED_SQL                                                                             \
    " EXISTS (SELECT 1 FROM scores v WHERE v.sample_id = sa.id AND v.scorer = 'verify'"          \
    "         AND v.value >= $3::float8)"                                                         \
    " AND NOT EXISTS (SELECT 1 FROM scores h WHERE h.sample_id = sa.id"                          \
    "         AND h.scorer = 'hack_check' AND (h.detail->>'hacked')::boolean)"                    \
    " AND NOT EXISTS (SELECT 1 FROM scores c WHERE c.sample_id = sa.id"                          \
    "         AND c.scorer = 'consistency' AND c.value < $3::float8)"

static const char s_sft_sql[] =
    "SELECT jsonb_build_object('messages', jsonb_build_array("
    "   jsonb_build_object('role', 'user', 'content', q.prompt),"
    "   CASE WHEN $4::boolean"
    "        THEN jsonb_build_object('role', 'assistant', 'content',"
    "             '<think>' || coalesce(sa.reasoning, '') || '</think>' || coalesce(sa.answer, ''))"
    "        ELSE jsonb_build_object('role', 'assistant', 'content', sa.answer,"
    "             'reasoning_content', sa.reasoning) END),"
    S_LINEAGE_SQL ")::text, i.id"
    " FROM samples sa JOIN tasks gt ON gt.id = sa.task_id JOIN items i ON i.id = sa.item_id"
    " JOIN jobs j ON j.id = sa.job_id JOIN stages st ON st.id = sa.stage_id"
    S_PROMPT_SQL
    " WHERE sa.job_id = $1 AND sa.stage_id = $2 AND" S_SELECTED_SQL
    " ORDER BY sa.item_id, sa.task_id, sa.idx";

/* per item: the best and the worst sample by their mean score over scorers */
static const char s_pairs_sql[] =
    "WITH sc AS (SELECT sa.id, sa.item_id, sa.task_id, sa.answer, sa.reasoning, sa.template_hash,"
    "                   avg(v.value) AS score"
    "            FROM samples sa JOIN scores v ON v.sample_id = sa.id"
    "            WHERE sa.job_id = $1 AND sa.stage_id = $2 AND v.value IS NOT NULL"
    "              AND v.scorer <> 'hack_check'"
    "            GROUP BY sa.id),"
    " b AS (SELECT DISTINCT ON (item_id) * FROM sc ORDER BY item_id, score DESC, id),"
    " w AS (SELECT DISTINCT ON (item_id) * FROM sc ORDER BY item_id, score ASC, id)"
    " SELECT jsonb_build_object('prompt', q.prompt,"
    "   'chosen', jsonb_build_object('content', b.answer, 'reasoning_content', b.reasoning),"
    "   'rejected', jsonb_build_object('content', w.answer, 'reasoning_content', w.reasoning),"
    "   'chosen_score', round(b.score::numeric, 4), 'rejected_score', round(w.score::numeric, 4),"
    "   'lineage', jsonb_build_object('job', $1::bigint, 'spec_hash', j.spec_hash,"
    "      'stage', st.name, 'item_id', i.id, 'ext_id', i.ext_id, 'chosen_sample', b.id,"
    "      'rejected_sample', w.id, 'template_hash', b.template_hash,"
    "      'terms_version', (SELECT coalesce("
    "         max(v.terms_version) FILTER (WHERE v.scorer = 'verify'), max(v.terms_version))"
    "         FROM scores v WHERE v.sample_id IN (b.id, w.id))))::text, i.id"
    " FROM b JOIN w ON w.item_id = b.item_id JOIN items i ON i.id = b.item_id"
    " JOIN tasks gt ON gt.id = b.task_id JOIN jobs j ON j.id = gt.job_id"
    " JOIN stages st ON st.id = gt.stage_id"
    S_PROMPT_SQL
    " WHERE b.score - w.score >= $3::float8 ORDER BY b.item_id";

/* best-of-k: per item the sample with the highest mean score, hack-flagged ones out */
static const char s_best_sql[] =
    "WITH sc AS (SELECT sa.id, sa.item_id, sa.task_id, sa.answer, sa.reasoning, sa.template_hash,"
    "                   avg(v.value) AS score"
    "            FROM samples sa JOIN scores v ON v.sample_id = sa.id"
    "            WHERE sa.job_id = $1 AND sa.stage_id = $2 AND v.value IS NOT NULL"
    "              AND v.scorer <> 'hack_check'"
    "              AND NOT EXISTS (SELECT 1 FROM scores h WHERE h.sample_id = sa.id"
    "                  AND h.scorer = 'hack_check' AND (h.detail->>'hacked')::boolean)"
    "            GROUP BY sa.id),"
    " b AS (SELECT DISTINCT ON (item_id) * FROM sc ORDER BY item_id, score DESC, id)"
    " SELECT jsonb_build_object('messages', jsonb_build_array("
    "   jsonb_build_object('role', 'user', 'content', q.prompt),"
    "   jsonb_build_object('role', 'assistant', 'content', b.answer,"
    "                      'reasoning_content', b.reasoning)),"
    "   'score', round(b.score::numeric, 4),"
    "   'lineage', jsonb_build_object('job', $1::bigint, 'spec_hash', j.spec_hash,"
    "      'stage', st.name, 'item_id', i.id, 'ext_id', i.ext_id, 'sample_id', b.id,"
    "      'template_hash', b.template_hash, 'terms_version', " S_TERMS_SQL("b.id") "))::text, i.id"
    " FROM b JOIN items i ON i.id = b.item_id JOIN tasks gt ON gt.id = b.task_id"
    " JOIN jobs j ON j.id = gt.job_id JOIN stages st ON st.id = gt.stage_id"
    S_PROMPT_SQL
    " WHERE b.score >= $3::float8 ORDER BY b.item_id";

/* per sample, for RL: prompt, response, composite reward and GRPO advantage */
static const char s_grpo_sql[] =
    "SELECT jsonb_build_object('prompt', q.prompt,"
    "   'response', sa.answer, 'reasoning', sa.reasoning,"
    "   'reward', round(c.composite::numeric, 6), 'advantage', round(c.advantage::numeric, 6),"
    "   'ground_truth', i.answer,"
    S_LINEAGE_SQL ")::text, i.id"
    " FROM sample_composite c JOIN samples sa ON sa.id = c.sample_id"
    " JOIN tasks gt ON gt.id = sa.task_id JOIN items i ON i.id = sa.item_id"
    " JOIN jobs j ON j.id = sa.job_id JOIN stages st ON st.id = sa.stage_id"
    S_PROMPT_SQL
    " WHERE c.job_id = $1 AND c.stage_id = $2 ORDER BY sa.item_id, sa.idx";

/* per item: the prompt and its ground truth, with the pass rate over its samples.
 * verl's reward_model style: "rule" when a rule can check the answer (the option
 * letters of an mcq item, the diagnosis of a case, gold codes), "model" for free
 * text such as a doctor's long answer to an open question: the ground truth is
 * then a reference for a reward model or an LLM judge, not a string to match. */
static const char s_rl_sql[] =
    "SELECT (CASE WHEN $4::boolean THEN jsonb_build_object('input', q.prompt, 'label', i.answer,"
    "   'reward_style', rs.style)"
    " ELSE jsonb_build_object('data_source', i.dataset,"
    "   'prompt', jsonb_build_array(jsonb_build_object('role', 'user', 'content', q.prompt)),"
    "   'ability', 'medical', 'reward_model', jsonb_build_object('style', rs.style,"
    "      'ground_truth', i.answer),"
    "   'extra_info', jsonb_build_object('item_id', i.id, 'ext_id', i.ext_id, 'kind', i.kind,"
    "      'category', i.category, 'gold_codes', to_jsonb(i.gold_codes), 'pass_rate', pr.rate,"
    "      'samples', pr.n))"
    " END || jsonb_build_object('lineage', jsonb_build_object('job', $1::bigint,"
    "      'spec_hash', j.spec_hash, 'stage', st.name, 'item_id', i.id, 'ext_id', i.ext_id,"
    "      'template_hash', pr.template_hash, 'terms_version', pr.terms_version)))::text, i.id"
    " FROM tasks gt JOIN items i ON i.id = gt.item_id JOIN jobs j ON j.id = gt.job_id"
    " JOIN stages st ON st.id = gt.stage_id"
    S_PROMPT_SQL
    " CROSS JOIN LATERAL (SELECT CASE WHEN i.kind IN ('mcq', 'case')"
    "   OR cardinality(i.gold_codes) > 0 THEN 'rule' ELSE 'model' END AS style) rs"
    " CROSS JOIN LATERAL (SELECT count(DISTINCT sa.id) AS n,"
    "   round(avg(CASE WHEN v.value >= $3::float8 THEN 1.0 ELSE 0.0 END), 4) AS rate,"
    "   min(sa.template_hash) AS template_hash,"
    "   (SELECT max(t.terms_version) FROM scores t JOIN samples s2 ON s2.id = t.sample_id"
    "    WHERE s2.task_id = gt.id) AS terms_version"
    "   FROM samples sa LEFT JOIN scores v ON v.sample_id = sa.id AND v.scorer = 'verify'"
    "   WHERE sa.task_id = gt.id) pr"
    " WHERE gt.job_id = $1 AND gt.stage_id = $2 AND gt.state = 'done' AND i.answer IS NOT NULL"
    " ORDER BY gt.item_id, gt.id";

/* kinds whose tasks write samples (the broker stores a generate task's samples) */
static int s_makes_samples(const char *kind)
{
    return strcmp(kind, "generate") == 0;
}

/* one entry per run of lines of the same item (queries order by item) */
typedef struct {
    long long *item;
    int *rows;
    size_t n, cap;
} s_counts_t;

static void s_count(s_counts_t *c, long long item)
{
    if (c->n && c->item[c->n - 1] == item) {
        c->rows[c->n - 1]++;
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->item = assay_realloc(c->item, c->cap * sizeof *c->item);
        c->rows = assay_realloc(c->rows, c->cap * sizeof *c->rows);
    }
    c->item[c->n] = item;
    c->rows[c->n++] = 1;
}

/* record the export in datasets with the lines per item (dataset_items), in one
 * transaction; 0 or -1 with the reason in err */
static int s_record(assay_db_t *db, const char *const *d, const s_counts_t *c, char *err,
                    size_t errlen)
{
    assay_buf_t items, rows;
    assay_buf_init(&items);
    assay_buf_init(&rows);
    assay_buf_addc(&items, '{');
    assay_buf_addc(&rows, '{');
    for (size_t k = 0; k < c->n; k++) {
        assay_buf_addf(&items, "%s%lld", k ? "," : "", c->item[k]);
        assay_buf_addf(&rows, "%s%d", k ? "," : "", c->rows[k]);
    }
    assay_buf_addc(&items, '}');
    assay_buf_addc(&rows, '}');
    const char *p[] = {d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], items.data,
                       rows.data};
    int rc = -1;
    PGresult *res = NULL;
    if (assay_db_begin(db) != 0) goto out;
    res = assay_db_query(
        db,
        "WITH st AS (SELECT id FROM stages WHERE job_id = $1::bigint AND name = $7::text),"
        " d AS (INSERT INTO datasets (job_id, name, format, path, rows, spec_hash, lineage)"
        "  VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6, jsonb_build_object('job', $1::bigint,"
        "   'stage', $7::text, 'spec_hash', $6::text, 'format', $3::text, 'min_score', $8::float8,"
        "   'min_margin', $9::float8, 'items_recorded', true,"
        "   'template_hashes', (SELECT coalesce(jsonb_agg(DISTINCT sa.template_hash), '[]')"
        "      FROM samples sa"
        "      WHERE sa.job_id = $1::bigint AND sa.stage_id = (SELECT id FROM st)"
        "      AND sa.template_hash IS NOT NULL),"
        "   'terms_versions', (SELECT coalesce(jsonb_agg(DISTINCT v.terms_version), '[]')"
        "      FROM samples sa JOIN scores v ON v.sample_id = sa.id"
        "      WHERE sa.job_id = $1::bigint AND sa.stage_id = (SELECT id FROM st)"
        "      AND v.terms_version IS NOT NULL)))"
        "  RETURNING id)"
        " INSERT INTO dataset_items (dataset_id, item_id, rows)"
        " SELECT (SELECT id FROM d), u.item, sum(u.n)::integer"
        " FROM unnest($10::bigint[], $11::integer[]) AS u(item, n) GROUP BY u.item"
        " RETURNING (SELECT id FROM d)",
        11, p);
    if (!res || assay_db_commit(db) != 0) goto out;
    rc = 0;
out:
    if (rc != 0) {
        snprintf(err, errlen, "%s", assay_db_error(db));
        assay_db_rollback(db);
    }
    if (res) PQclear(res);
    assay_buf_release(&items);
    assay_buf_release(&rows);
    return rc;
}

/* why an export wrote no line: what the stage holds, for the format asked */
static void s_explain_empty(assay_db_t *db, const char *format, const char *jid,
                            const char *stage_id, const char *stage_name, const char *kind,
                            const char *min_score, const char *min_margin)
{
    const char *p[] = {jid, stage_id, min_score};
    PGresult *res = assay_db_query(
        db,
        "SELECT (SELECT count(*) FROM tasks t WHERE t.stage_id = $2::bigint AND t.state = 'done'),"
        " (SELECT count(*) FROM tasks t WHERE t.stage_id = $2::bigint"
        "   AND t.state IN ('pending', 'leased'))"
        "  + (SELECT CASE WHEN s.idx = 0 AND j.state IN ('running', 'paused')"
        "          THEN (SELECT count(*) FROM job_items ji WHERE ji.job_id = s.job_id"
        "                AND ji.seq > s.claimed_seq) ELSE 0 END"
        "     FROM stages s JOIN jobs j ON j.id = s.job_id WHERE s.id = $2::bigint),"
        " (SELECT count(*) FROM tasks t WHERE t.stage_id = $2::bigint AND t.state = 'dead'),"
        " (SELECT count(*) FROM samples sa"
        "   WHERE sa.job_id = $1::bigint AND sa.stage_id = $2::bigint),"
        " (SELECT count(DISTINCT v.sample_id) FROM samples sa JOIN scores v ON v.sample_id = sa.id"
        "   WHERE sa.job_id = $1::bigint AND sa.stage_id = $2::bigint AND v.value IS NOT NULL"
        "   AND v.scorer <> 'hack_check'),"
        " (SELECT count(DISTINCT v.sample_id) FROM samples sa JOIN scores v ON v.sample_id = sa.id"
        "   WHERE sa.job_id = $1::bigint AND sa.stage_id = $2::bigint AND v.scorer = 'verify'"
        "   AND v.value >= $3::float8),"
        " (SELECT count(DISTINCT v.sample_id) FROM samples sa JOIN scores v ON v.sample_id = sa.id"
        "   WHERE sa.job_id = $1::bigint AND sa.stage_id = $2::bigint"
        "   AND v.scorer = 'hack_check'"
        "   AND (v.detail->>'hacked')::boolean),"
        " (SELECT count(*) FROM tasks t JOIN items i ON i.id = t.item_id"
        "   WHERE t.stage_id = $2::bigint AND t.state = 'done' AND i.answer IS NOT NULL),"
        " (SELECT state FROM jobs WHERE id = $1::bigint)",
        3, p);
    if (!res) {
        fprintf(stderr, "assay export: exported 0 rows (could not tell why: %s)\n",
                assay_db_error(db));
        return;
    }
    long long done = atoll(PQgetvalue(res, 0, 0)), open = atoll(PQgetvalue(res, 0, 1)),
              dead = atoll(PQgetvalue(res, 0, 2)), samples = atoll(PQgetvalue(res, 0, 3)),
              scored = atoll(PQgetvalue(res, 0, 4)), verified = atoll(PQgetvalue(res, 0, 5)),
              hacked = atoll(PQgetvalue(res, 0, 6)), gold = atoll(PQgetvalue(res, 0, 7));
    char state[32];
    snprintf(state, sizeof state, "%s", PQgetvalue(res, 0, 8));
    PQclear(res);
    char tasks[160];
    snprintf(tasks, sizeof tasks, "its tasks: %lld done, %lld open, %lld dead; job %s", done,
             open, dead, state);
    const char *pre = "assay export: exported 0 rows:";
    if (!strcmp(format, "outputs"))
        fprintf(stderr, "%s stage \"%s\" has no done task yet (%s)\n", pre, stage_name, tasks);
    else if (samples == 0)
        fprintf(stderr, "%s stage \"%s\" (%s) has no samples yet (%s)\n", pre, stage_name, kind,
                tasks);
    else if (!strcmp(format, "sft") || !strcmp(format, "sft-think"))
        fprintf(stderr,
                "%s none of the %lld samples of stage \"%s\" passed rejection sampling "
                "(%lld with a verify score >= --min-score %s, %lld hack-flagged; a consistency "
                "judge below it also rejects)\n",
                pre, samples, stage_name, verified, min_score, hacked);
    else if (!strcmp(format, "best"))
        fprintf(stderr,
                "%s no item of stage \"%s\" has an unflagged sample whose mean score reaches "
                "--min-score %s (%lld of %lld samples scored, %lld hack-flagged)\n",
                pre, stage_name, min_score, scored, samples, hacked);
    else if (!strcmp(format, "pairs"))
        fprintf(stderr,
                "%s no item of stage \"%s\" has two samples whose mean scores differ by "
                "--min-margin %s or more (%lld of %lld samples scored)\n",
                pre, stage_name, min_margin, scored, samples);
    else if (!strcmp(format, "grpo"))
        fprintf(stderr, "%s none of the %lld samples of stage \"%s\" has a score yet\n", pre,
                samples, stage_name);
    else if (!strcmp(format, "rl") || !strcmp(format, "rl-openrlhf"))
        fprintf(stderr,
                "%s stage \"%s\" has no done task whose item has a gold answer (%lld of %lld "
                "done tasks have one)\n",
                pre, stage_name, gold, done);
    else
        fprintf(stderr, "%s stage \"%s\" holds nothing to export (%s)\n", pre, stage_name, tasks);
}

int assay_cmd_export(assay_cli_t *cli, int argc, char **argv)
{
    const char *job = NULL, *stage = NULL, *format = NULL, *out = NULL;
    const char *min_score = "0.8", *min_margin = "0.3";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((!strcmp(a, "--stage") || !strcmp(a, "--format") || !strcmp(a, "-o") ||
                    !strcmp(a, "--output") || !strcmp(a, "--min-score") ||
                    !strcmp(a, "--min-margin")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--min-score") || !strcmp(a, "--min-margin")) {
                char *end;
                double d = strtod(v, &end);
                if (*end || end == v || d < 0 || d > 1) {
                    assay_cli_error("export", "%s \"%s\": expected a number from 0 to 1", a, v);
                    return ASSAY_EXIT_USAGE;
                }
                if (!strcmp(a, "--min-score"))
                    min_score = v;
                else
                    min_margin = v;
            } else if (!strcmp(a, "--stage"))
                stage = v;
            else if (!strcmp(a, "--format"))
                format = v;
            else
                out = v;
        } else if (a[0] != '-' && !job) {
            job = a;
        } else {
            assay_cli_error("export", "unknown argument \"%s\" (see `assay export --help`)", a);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (!job) {
        assay_cli_error("export", "which job? (usage: assay export JOB [-o FILE])");
        return ASSAY_EXIT_USAGE;
    }
    static const char *const formats[] = {"samples", "outputs", "sft", "sft-think", "best",
                                          "pairs", "rl", "rl-openrlhf", "grpo", NULL};
    int known = !format;
    for (const char *const *f = formats; format && *f; f++)
        if (!strcmp(*f, format)) known = 1;
    if (!known) {
        assay_cli_error("export", "--format \"%s\": expected samples, outputs, sft, sft-think, "
                                  "best, pairs, rl, rl-openrlhf or grpo", format);
        return ASSAY_EXIT_USAGE;
    }
    /* samples and the training formats read the samples of a generate stage */
    int from_samples = format && strcmp(format, "outputs");
    long long id = assay_cli_job_id("export", job);
    if (id < 0) return ASSAY_EXIT_USAGE;
    char jid[32];
    snprintf(jid, sizeof jid, "%lld", id);
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;

    /* the job's stages, in order, with how many samples each holds */
    const char *p[] = {jid};
    PGresult *res = assay_db_query(db,
                                   "SELECT s.id, s.name, s.kind, j.spec_hash, j.name,"
                                   " (SELECT count(*) FROM samples sa"
                                   "  WHERE sa.job_id = s.job_id AND sa.stage_id = s.id)"
                                   " FROM stages s JOIN jobs j ON j.id = s.job_id"
                                   " WHERE s.job_id = $1 ORDER BY s.idx",
                                   1, p);
    if (!res) {
        assay_cli_error("export", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    int nst = PQntuples(res), pick = -1;
    if (nst == 0) {
        PQclear(res);
        assay_cli_error("export", "job %s does not exist (see `assay jobs`)", jid);
        return ASSAY_EXIT_NOTFOUND;
    }
    /* "answer (40 samples), teacher (0 samples)": the stages that make samples */
    assay_buf_t list;
    assay_buf_init(&list);
    int last_gen = -1, with_samples = 0;
    for (int r = 0; r < nst; r++) {
        if (!s_makes_samples(PQgetvalue(res, r, 2))) continue;
        assay_buf_addf(&list, "%s%s (%s samples)", list.len ? ", " : "", PQgetvalue(res, r, 1),
                       PQgetvalue(res, r, 5));
        last_gen = r;
        if (atoll(PQgetvalue(res, r, 5)) > 0) with_samples++;
    }
    int rc = ASSAY_EXIT_OK;
    if (stage) {
        for (int r = 0; r < nst; r++)
            if (!strcmp(PQgetvalue(res, r, 1), stage)) pick = r;
        if (pick < 0) {
            assay_cli_error("export", "job %s has no stage \"%s\" (see `assay status %s`)", jid,
                            stage, jid);
            rc = ASSAY_EXIT_NOTFOUND;
        } else if (from_samples && !s_makes_samples(PQgetvalue(res, pick, 2))) {
            assay_cli_error("export",
                            "stage \"%s\" (%s) makes no samples, and format %s exports samples; "
                            "stages that make them: %s",
                            stage, PQgetvalue(res, pick, 2), format,
                            list.len ? list.data : "none in this job");
            rc = ASSAY_EXIT_USAGE;
        }
    } else if (from_samples) {
        /* the last generate stage, unless it has no samples while another has:
         * then which one is meant is the user's call */
        pick = last_gen;
        if (last_gen < 0) {
            assay_cli_error("export", "job %s has no generate stage (format %s exports "
                                      "generated samples; use --format outputs)", jid, format);
            rc = ASSAY_EXIT_NOTFOUND;
        } else if (atoll(PQgetvalue(res, last_gen, 5)) == 0 && with_samples > 0) {
            assay_cli_error("export",
                            "which stage? the last generate stage \"%s\" has no samples yet, "
                            "others have: %s; choose one with --stage",
                            PQgetvalue(res, last_gen, 1), list.data);
            rc = ASSAY_EXIT_USAGE;
        }
    } else {
        pick = nst - 1; /* the job's last stage, in the format its kind suggests */
    }
    assay_buf_release(&list);
    if (rc != ASSAY_EXIT_OK) {
        PQclear(res);
        return rc;
    }
    char stage_id[32], stage_name[256], kind[64], spec_hash[80], job_name[256];
    snprintf(stage_id, sizeof stage_id, "%s", PQgetvalue(res, pick, 0));
    snprintf(stage_name, sizeof stage_name, "%s", PQgetvalue(res, pick, 1));
    snprintf(kind, sizeof kind, "%s", PQgetvalue(res, pick, 2));
    snprintf(spec_hash, sizeof spec_hash, "%s", PQgetvalue(res, pick, 3));
    snprintf(job_name, sizeof job_name, "%s", PQgetvalue(res, pick, 4));
    PQclear(res);
    if (!format) format = s_makes_samples(kind) ? "samples" : "outputs";

    FILE *f = stdout;
    char *tmp = NULL;
    if (out && strcmp(out, "-") != 0) {
        tmp = assay_sprintf("%s.tmp.%d", out, (int)getpid());
        f = fopen(tmp, "w");
        if (!f) {
            assay_cli_error("export", "could not create \"%s\": %s", tmp, strerror(errno));
            free(tmp);
            return ASSAY_EXIT_FAIL;
        }
    }
    PGconn *conn = assay_db_conn(db);
    const char *sql = s_outputs_sql;
    const char *third = NULL, *fourth = "false";
    int nparams = 2;
    if (!strcmp(format, "samples")) sql = s_samples_sql;
    if (!strcmp(format, "sft") || !strcmp(format, "sft-think")) {
        sql = s_sft_sql;
        third = min_score;
        fourth = !strcmp(format, "sft-think") ? "true" : "false";
        nparams = 4;
    }
    if (!strcmp(format, "grpo")) sql = s_grpo_sql;
    if (!strcmp(format, "best")) {
        sql = s_best_sql;
        third = min_score;
        nparams = 3;
    }
    if (!strcmp(format, "pairs")) {
        sql = s_pairs_sql;
        third = min_margin;
        nparams = 3;
    }
    if (!strcmp(format, "rl") || !strcmp(format, "rl-openrlhf")) {
        sql = s_rl_sql;
        third = min_score;
        fourth = !strcmp(format, "rl-openrlhf") ? "true" : "false";
        nparams = 4;
    }
    const char *q[] = {jid, stage_id, third, fourth};
    long long rows = 0;
    s_counts_t counts = {0};
    if (!PQsendQueryParams(conn, sql, nparams, NULL, q, NULL, NULL, 0) ||
        !PQsetSingleRowMode(conn)) {
        assay_cli_error("export", "could not start the export query: %s", PQerrorMessage(conn));
        rc = ASSAY_EXIT_DB;
    }
    assay_progress_t prog;
    assay_progress_init(&prog, "export", 0, cli->err_tty);
    while (rc == ASSAY_EXIT_OK && (res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            fputs(PQgetvalue(res, 0, 0), f);
            fputc('\n', f);
            rows++;
            if (!PQgetisnull(res, 0, 1)) s_count(&counts, atoll(PQgetvalue(res, 0, 1)));
            assay_progress_update(&prog, rows);
        } else if (st != PGRES_TUPLES_OK) {
            assay_cli_error("export", "%s", PQresultErrorMessage(res));
            rc = ASSAY_EXIT_DB;
        }
        PQclear(res);
    }
    while ((res = PQgetResult(conn)) != NULL) PQclear(res);
    if (rows > 1000) assay_progress_finish(&prog);
    if (f != stdout) {
        if (fclose(f) != 0 && rc == ASSAY_EXIT_OK) {
            assay_cli_error("export", "could not write \"%s\": %s", tmp, strerror(errno));
            rc = ASSAY_EXIT_FAIL;
        }
        if (rc == ASSAY_EXIT_OK && rename(tmp, out) != 0) {
            assay_cli_error("export", "could not rename \"%s\" to \"%s\": %s", tmp, out,
                            strerror(errno));
            rc = ASSAY_EXIT_FAIL;
        }
        if (rc != ASSAY_EXIT_OK) unlink(tmp);
        free(tmp);
    } else {
        fflush(stdout);
    }
    if (rc != ASSAY_EXIT_OK) {
        free(counts.item);
        free(counts.rows);
        return rc;
    }
    if (rows == 0)
        s_explain_empty(db, format, jid, stage_id, stage_name, kind, min_score, min_margin);
    if (out && strcmp(out, "-") != 0) {
        char nrows[32], err[1024];
        snprintf(nrows, sizeof nrows, "%lld", rows);
        char *name = assay_sprintf("%s/%s", job_name, stage_name);
        int scored = strcmp(format, "samples") && strcmp(format, "outputs") &&
                     strcmp(format, "pairs") && strcmp(format, "grpo");
        const char *d[] = {jid, name, format, out, nrows, spec_hash, stage_name,
                           scored ? min_score : NULL, !strcmp(format, "pairs") ? min_margin : NULL};
        if (s_record(db, d, &counts, err, sizeof err) != 0)
            fprintf(stderr, "assay export: warning: export written but not recorded: %s\n", err);
        free(name);
        if (json)
            printf("{\"job\":%s,\"stage\":\"%s\",\"format\":\"%s\",\"rows\":%lld,\"path\":\"%s\"}\n",
                   jid, stage_name, format, rows, out);
        else
            printf("exported %lld rows (%s, stage %s) to %s\n", rows, format, stage_name, out);
    }
    free(counts.item);
    free(counts.rows);
    return ASSAY_EXIT_OK;
}
