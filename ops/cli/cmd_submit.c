/*  cmd_submit.c: `assay submit`: validate a pipeline spec and the items, import
 *  the items (COPY, one transaction, all or nothing), create the job and its
 *  stages, and wake the broker with NOTIFY. */
#include "ops/cli/cli.h"
#include "ops/cli/import.h"
#include "ops/cli/neardup.h"
#include "ops/cli/overlap.h"
#include "ops/cli/spec.h"

#include "common/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay submit --spec SPEC.json [--input ITEMS.jsonl] [--dataset NAME]\n"
    "                    [--name JOB_NAME] [--weight N] [--dry-run] [--json]\n"
    "\n"
    "Validate SPEC.json (a pipeline spec) and ITEMS.jsonl (one item per line), import\n"
    "the items in one transaction and create a job that runs the spec over them.\n"
    "A bad line stops the whole import: nothing is imported and every problem found\n"
    "(up to 20) is reported as FILE:LINE: field: what was expected. Before anything\n"
    "is written the spec's stage params are checked against what each task kind\n"
    "declares, its endpoints against the configuration, its templates against the\n"
    "prompts directory, and every item against the fields the stages read from it\n"
    "(template fields, the gold answer a verifier or outcome judge compares with).\n"
    "Identical items (same kind, question, context, options) are stored once per\n"
    "dataset. Without --input, the job runs over the dataset's existing items.\n"
    "\n"
    "options:\n"
    "  --spec FILE      pipeline spec (see ops/pipelines/ for templates)\n"
    "  --input FILE     items to import (JSONL; '-' for standard input)\n"
    "  --dataset NAME   dataset the items belong to (default: input file name)\n"
    "  --name NAME      job name (default: the spec's name)\n"
    "  --weight N       fair-share weight (default: the spec's weight, else 1)\n"
    "  --decontaminate EVAL.jsonl\n"
    "                   drop items whose question shares a run of --overlap characters\n"
    "                   (default 64, white space ignored) with a question of EVAL.jsonl\n"
    "                   (an evaluation set: JSONL with a \"question\" field); each dropped\n"
    "                   line is reported\n"
    "  --overlap N      the run length for --decontaminate (16..1000)\n"
    "  --near-dup X     also drop near-duplicate items: a question (with its options)\n"
    "                   whose 5-character shingles overlap an earlier one's with an\n"
    "                   estimated Jaccard similarity >= X (e.g. 0.8); each is reported\n"
    "  --dry-run        validate and count only: no item is stored, no job is\n"
    "                   created (no job id is used)\n"
    "  --json           print the result as JSON\n"
    "\n"
    "examples:\n"
    "  assay submit --spec ops/pipelines/distill.json --input ops/sample/exam_mcq.jsonl\n"
    "  assay submit --spec judge.json --dataset exam_mcq --weight 3\n";

#define S_MAX_ERRORS 20

typedef struct {
    const char *spec_path, *input, *dataset, *name, *decontaminate;
    long weight, overlap;
    int dry_run, json;
    assay_overlap_t *eval;    /* the evaluation set's windows, or NULL */
    long long contaminated; /* lines dropped by decontamination */
    double near_dup;        /* similarity threshold, 0 = off */
    long long near_dups;    /* lines dropped as near duplicates */
    int prioritized;        /* some line has a non-zero "priority" */
    assay_spec_needs_t *needs; /* what the stages read from each item */
} s_opts_t;

static int s_parse(int argc, char **argv, s_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            return 1;
        } else if (strcmp(a, "--spec") == 0) {
            dst = &o->spec_path;
        } else if (strcmp(a, "--input") == 0) {
            dst = &o->input;
        } else if (strcmp(a, "--dataset") == 0) {
            dst = &o->dataset;
        } else if (strcmp(a, "--name") == 0) {
            dst = &o->name;
        } else if (strcmp(a, "--decontaminate") == 0) {
            dst = &o->decontaminate;
        } else if (strcmp(a, "--near-dup") == 0) {
            if (i + 1 >= argc) break;
            char *end;
            o->near_dup = strtod(argv[++i], &end);
            if (*end || o->near_dup <= 0 || o->near_dup > 1) {
                assay_cli_error("submit", "--near-dup: expected a similarity in (0, 1], not \"%s\"",
                                argv[i]);
                return -1;
            }
            continue;
        } else if (strcmp(a, "--overlap") == 0) {
            if (i + 1 >= argc) break;
            char *end;
            o->overlap = strtol(argv[++i], &end, 10);
            if (*end || o->overlap < 16 || o->overlap > 1000) {
                assay_cli_error("submit", "--overlap: expected an integer from 16 to 1000, not \"%s\"",
                                argv[i]);
                return -1;
            }
            continue;
        } else if (strcmp(a, "--weight") == 0) {
            if (i + 1 >= argc) break;
            char *end;
            o->weight = strtol(argv[++i], &end, 10);
            if (*end || o->weight < 1 || o->weight > 1000) {
                assay_cli_error("submit", "--weight: expected an integer from 1 to 1000, not \"%s\"",
                                argv[i]);
                return -1;
            }
            continue;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
            continue;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        } else {
            assay_cli_error("submit", "unknown argument \"%s\" (see `assay submit --help`)", a);
            return -1;
        }
        if (i + 1 >= argc) {
            assay_cli_error("submit", "%s needs a value", a);
            return -1;
        }
        *dst = argv[++i];
    }
    if (!o->spec_path) {
        assay_cli_error("submit", "--spec is required (see `assay submit --help`)");
        return -1;
    }
    if (!o->input && !o->dataset) {
        assay_cli_error("submit", "give --input ITEMS.jsonl, or --dataset NAME to reuse imported items");
        return -1;
    }
    return 0;
}

static char *s_default_dataset(const char *input)
{
    if (!input || strcmp(input, "-") == 0) return assay_strdup("stdin");
    char *copy = assay_strdup(input);
    char *base = assay_strdup(basename(copy));
    free(copy);
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = '\0';
    return base;
}

/* The content hashes of the lines sent to the COPY: a line whose content is already
 * in it is dropped before it reaches the server (the first line of each content is
 * kept), so the rows can go straight into items, or be inserted from the stage without
 * a sort. Open addressing, linear probing, 32-byte digests. */
typedef struct {
    unsigned char (*keys)[32];
    unsigned char *used;
    size_t cap, n; /* cap is a power of two */
} s_hashset_t;

static int s_hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* true when the hex hash was already in the set; adds it otherwise */
static int s_hashset_seen(s_hashset_t *set, const char *hex)
{
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(s_hexval(hex[2 * i]) << 4 | s_hexval(hex[2 * i + 1]));
    if ((set->n + 1) * 4 > set->cap * 3) { /* keep the load at most 3/4 */
        size_t cap = set->cap ? set->cap * 2 : 1024;
        unsigned char(*keys)[32] = assay_malloc(cap * sizeof *keys);
        unsigned char *used = assay_calloc(cap, 1);
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->used[i]) continue;
            size_t h;
            memcpy(&h, set->keys[i], sizeof h);
            while (used[h & (cap - 1)]) h++;
            memcpy(keys[h & (cap - 1)], set->keys[i], 32);
            used[h & (cap - 1)] = 1;
        }
        free(set->keys);
        free(set->used);
        set->keys = keys;
        set->used = used;
        set->cap = cap;
    }
    size_t h; /* the key is a SHA-256 digest: its first bytes are already well mixed */
    memcpy(&h, key, sizeof h);
    for (;; h++) {
        size_t i = h & (set->cap - 1);
        if (!set->used[i]) {
            memcpy(set->keys[i], key, 32);
            set->used[i] = 1;
            set->n++;
            return 0;
        }
        if (memcmp(set->keys[i], key, 32) == 0) return 1;
    }
}

static void s_hashset_release(s_hashset_t *set)
{
    free(set->keys);
    free(set->used);
    memset(set, 0, sizeof *set);
}

/* true (and reported) when the item nearly duplicates an earlier line */
static int s_near_dup(assay_neardup_t *nd, const json_t *item, const char *question,
                      long long **lines, size_t *n, long long lineno, const char *path, s_opts_t *o)
{
    assay_buf_t text = ASSAY_BUF_INIT;
    assay_buf_adds(&text, question);
    json_t *opts = json_object_get(item, "options");
    if (json_is_object(opts)) {
        char *dump = json_dumps(opts, JSON_SORT_KEYS | JSON_COMPACT);
        assay_buf_adds(&text, dump);
        free(dump);
    }
    double sim = 0;
    long other = assay_neardup_check_add(nd, text.data, &sim);
    assay_buf_release(&text);
    if (other < 0) {
        *lines = assay_realloc(*lines, (*n + 1) * sizeof **lines);
        (*lines)[(*n)++] = lineno;
        return 0;
    }
    if (o->near_dups < S_MAX_ERRORS)
        fprintf(stderr, "%s:%lld: dropped: near duplicate of line %lld (similarity %.2f)\n", path,
                lineno, (*lines)[other], sim);
    o->near_dups++;
    return 1;
}

/* stream the input into the COPY (rows of ASSAY_ITEM_COPY_COLUMNS, each content once);
 * *nlines = the good lines, *nsent = the rows sent. Returns the number of errors
 * (printed), or -1 on a database or I/O failure (printed) */
static long s_copy_items(assay_cli_t *cli, assay_db_t *db, const char *path, const char *dataset,
                         long long *nlines, long long *nsent, s_opts_t *o)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        assay_cli_error("submit", "could not open input \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long lineno = 0, good = 0, sent = 0;
    long errors = 0;
    int db_failed = 0;
    assay_buf_t row = ASSAY_BUF_INIT;
    assay_neardup_t *nd = o->near_dup > 0 ? assay_neardup_new(o->near_dup) : NULL;
    long long *nd_lines = NULL; /* line of each text kept by the near-duplicate check */
    size_t nd_n = 0;
    s_hashset_t seen = {0};
    assay_progress_t prog;
    assay_progress_init(&prog, "import", 0, cli->err_tty);
    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        size_t lead = strspn(line, " \t");
        if ((size_t)len == lead) continue; /* blank line */
        char err[600];
        int bad = 0;
        json_t *item = NULL;
        assay_item_info_t info;
        if ((size_t)len > ASSAY_ITEM_MAX_BYTES) {
            snprintf(err, sizeof err, "line is %zd bytes, more than the %u allowed per item", len,
                     ASSAY_ITEM_MAX_BYTES);
            bad = 1;
        } else {
            json_error_t jerr;
            item = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
            if (!item) {
                snprintf(err, sizeof err, "invalid JSON at column %d: %s", jerr.column, jerr.text);
                bad = 1;
            } else if (assay_item_check(item, &info, err, sizeof err) != 0 ||
                       (o->needs &&
                        assay_spec_needs_check(o->needs, item, info.kind, err, sizeof err) != 0)) {
                bad = 1;
            }
        }
        if (bad) {
            if (errors < S_MAX_ERRORS) fprintf(stderr, "%s:%lld: %s\n", path, lineno, err);
            errors++;
        } else if (nd && s_near_dup(nd, item, info.question, &nd_lines, &nd_n, lineno, path, o)) {
            /* reported by s_near_dup */
        } else if (o->eval && assay_overlap_hits(o->eval, info.question)) {
            if (o->contaminated < S_MAX_ERRORS)
                fprintf(stderr, "%s:%lld: dropped: the question shares a run of %ld characters "
                                "with the evaluation set\n", path, lineno, o->overlap);
            o->contaminated++;
        } else if (errors == 0 && !db_failed && s_hashset_seen(&seen, info.hash)) {
            good++; /* same content as an earlier line: stored once */
        } else if (errors == 0 && !db_failed) {
            json_t *pr = json_object_get(item, "priority");
            if (json_is_number(pr) && json_number_value(pr) != 0) o->prioritized = 1;
            assay_buf_reset(&row);
            assay_item_copy_row(&row, dataset, item, &info, line, (size_t)len);
            if (assay_db_copy_send(db, row.data, row.len) != 0) db_failed = 1;
            good++;
            sent++;
        }
        json_decref(item);
        assay_progress_update(&prog, lineno);
    }
    int read_err = ferror(f);
    if (f != stdin) fclose(f);
    free(line);
    assay_buf_release(&row);
    s_hashset_release(&seen);
    if (lineno > 0) assay_progress_finish(&prog);
    if (read_err) {
        assay_cli_error("submit", "could not read \"%s\"", path);
        return -1;
    }
    if (errors > S_MAX_ERRORS)
        fprintf(stderr, "%s: ... and %ld more errors\n", path, errors - S_MAX_ERRORS);
    if (db_failed) {
        assay_cli_error("submit", "%s", assay_db_error(db));
        return -1;
    }
    assay_neardup_destroy(&nd);
    free(nd_lines);
    if (o->contaminated)
        fprintf(stderr, "%s: %lld items dropped by decontamination against \"%s\"\n", path,
                o->contaminated, o->decontaminate);
    if (o->near_dups)
        fprintf(stderr, "%s: %lld items dropped as near duplicates (similarity >= %.2f)\n", path,
                o->near_dups, o->near_dup);
    if (errors == 0 && good == 0) {
        assay_cli_error("submit", "%s: no items (%s)", path,
                        o->contaminated || o->near_dups ? "every item was dropped" : "the file is empty");
        return -1;
    }
    *nlines = good;
    *nsent = sent;
    return errors;
}

/* Imports into one dataset take turns (a transaction-scoped advisory lock on the
 * dataset name, in the two-key space so it cannot meet the single-key locks of
 * `assay db migrate` and the broker): under it, what the dataset holds cannot change
 * between looking and inserting, so the items need no ON CONFLICT, whose speculative
 * insertion costs about as much again as the insert itself. */
static const char s_lock_dataset[] = "SELECT pg_advisory_xact_lock(7305812, hashtext($1))";

/* Into a dataset that has items, the file is staged: the lines whose content the
 * dataset already holds join the job as they are and leave the stage, the rest are
 * inserted and join the job. Neither statement reads the table it grows (a plan
 * chosen while a table is empty and scanned while it fills is quadratic). */
static const char s_stage_table[] =
    "CREATE TEMP TABLE import_stage (dataset text, ext_id text, kind text, question text,"
    " context text, options jsonb, answer text, gold_codes text[], category text, tags text[],"
    " source text, record jsonb, content_hash text) ON COMMIT DROP;"
    "CREATE TEMP TABLE import_ids (id bigint, priority integer) ON COMMIT DROP";

static const char s_stage_existing[] =
    "WITH old AS (DELETE FROM import_stage s USING items i"
    " WHERE i.dataset = s.dataset AND i.content_hash = s.content_hash RETURNING i.id, i.record),"
    " ji AS (INSERT INTO import_ids SELECT id, coalesce(assay_jint(record->'priority'), 0)"
    "        FROM old RETURNING 1)"
    " SELECT count(*) FROM ji";

static const char s_stage_new[] =
    "WITH ins AS (INSERT INTO items (" ASSAY_ITEM_COPY_COLUMNS ")"
    " SELECT " ASSAY_ITEM_COPY_COLUMNS " FROM import_stage RETURNING id, record),"
    " ji AS (INSERT INTO import_ids SELECT id, coalesce(assay_jint(record->'priority'), 0)"
    "        FROM ins RETURNING 1)"
    " SELECT count(*) FROM ji";

/* A job's items are numbered (job_items.seq, from its sequence) in the order the
 * broker claims them: item priority first, then item id. */
static const char s_job_staged[] =
    "WITH ins AS (INSERT INTO job_items (job_id, item_id, priority)"
    " SELECT $1, id, priority FROM import_ids ORDER BY priority DESC, id RETURNING 1)"
    " SELECT count(*) FROM ins";

/* every item of the dataset joins the job: a submit without --input, or one whose
 * file was copied straight into a dataset that had no items */
static const char s_job_plain[] =
    "WITH ins AS (INSERT INTO job_items (job_id, item_id)"
    " SELECT $1, i.id FROM items i WHERE i.dataset = $2 ORDER BY i.id RETURNING 1)"
    " SELECT count(*) FROM ins";
static const char s_job_dataset[] =
    "WITH ins AS (INSERT INTO job_items (job_id, item_id, priority)"
    " SELECT $1, i.id, coalesce(assay_jint(i.record->'priority'), 0) FROM items i"
    " WHERE i.dataset = $2 ORDER BY 3 DESC, 2 RETURNING 1)"
    " SELECT count(*) FROM ins";

/* run a statement that returns one count; -1 on failure (message in the db handle) */
static long long s_count(assay_db_t *db, const char *sql, int n, const char *const *p)
{
    PGresult *res = assay_db_query(db, sql, n, p);
    if (!res) return -1;
    long long v = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static int s_submit(assay_cli_t *cli, const s_opts_t *o, json_t *spec)
{
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    char *dataset = o->dataset ? assay_strdup(o->dataset) : s_default_dataset(o->input);
    int rc = ASSAY_EXIT_DB;
    long long nlines = 0, inserted = 0, nitems = 0, job_id = 0;
    int staged = 0;
    PGresult *res = NULL;

    if (assay_db_begin(db) != 0) goto db_err;
    if (o->input) {
        const char *p[] = {dataset};
        if (assay_db_execp(db, s_lock_dataset, 1, p) != 0) goto db_err;
        res = assay_db_query(db, "SELECT EXISTS (SELECT 1 FROM items WHERE dataset = $1)", 1, p);
        if (!res) goto db_err;
        staged = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        res = NULL;
        /* a dry run stages the file in a temporary table: no row reaches items and
         * no sequence moves (a rolled-back nextval is still consumed) */
        if (o->dry_run) staged = 1;
        /* a dataset without items takes the file as it is: the client already
         * dropped the lines that repeat an earlier one */
        if (staged ? assay_db_exec(db, s_stage_table) != 0 ||
                         assay_db_copy_begin(db, "COPY import_stage (" ASSAY_ITEM_COPY_COLUMNS
                                                 ") FROM STDIN") != 0
                   : assay_db_copy_begin(db, "COPY items (" ASSAY_ITEM_COPY_COLUMNS ") FROM STDIN") != 0)
            goto db_err;
        long errors = s_copy_items(cli, db, o->input, dataset, &nlines, &inserted, (s_opts_t *)o);
        if (errors != 0) {
            /* end the COPY so the connection is usable, then throw everything away */
            PQputCopyEnd(assay_db_conn(db), "import aborted");
            while ((res = PQgetResult(assay_db_conn(db))) != NULL) PQclear(res);
            assay_db_rollback(db);
            if (errors > 0)
                fprintf(stderr, "assay submit: nothing imported: fix the lines above and submit "
                                "again\n");
            rc = ASSAY_EXIT_FAIL;
            goto out;
        }
        if (assay_db_copy_end(db) != 0) goto db_err;
    }

    if (o->dry_run) {
        /* count what the job would hold without creating it: INSERT INTO jobs
         * would take a job id from its sequence, rollback or not */
        if (o->input) {
            long long old = s_count(db, s_stage_existing, 0, NULL);
            inserted = old < 0 ? -1 : s_count(db, "SELECT count(*) FROM import_stage", 0, NULL);
            nitems = inserted < 0 ? -1 : old + inserted;
        } else {
            const char *p[] = {dataset};
            nitems = s_count(db, "SELECT count(*) FROM items WHERE dataset = $1", 1, p);
        }
        if (nitems < 0) goto db_err;
        assay_db_rollback(db);
        if (nitems == 0) {
            assay_cli_error("submit", "dataset \"%s\" has no items: nothing submitted", dataset);
            rc = ASSAY_EXIT_NOTFOUND;
            goto out;
        }
        goto report;
    }
    {
        char *spec_text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char hash[65], weight[16], prio[16];
        assay_sha256_hex(spec_text, strlen(spec_text), hash);
        json_t *w = json_object_get(spec, "weight");
        snprintf(weight, sizeof weight, "%ld",
                 o->weight ? o->weight : (w ? (long)json_integer_value(w) : 1));
        json_t *pr = json_object_get(spec, "priority");
        snprintf(prio, sizeof prio, "%ld", pr ? (long)json_integer_value(pr) : 0);
        const char *name = o->name ? o->name : json_string_value(json_object_get(spec, "name"));
        const char *p[] = {name, dataset, spec_text, hash, weight, prio};
        res = assay_db_query(db,
                             "INSERT INTO jobs (name, dataset, spec, spec_hash, weight, priority)"
                             " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                             6, p);
        free(spec_text);
        if (!res) goto db_err;
        job_id = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        res = NULL;
    }
    {
        char jid[32];
        snprintf(jid, sizeof jid, "%lld", job_id);
        size_t i;
        json_t *st;
        json_array_foreach(json_object_get(spec, "stages"), i, st)
        {
            char idx[32], maxa[32], tmo[32], round[32];
            snprintf(idx, sizeof idx, "%zu", i);
            json_t *v;
            snprintf(maxa, sizeof maxa, "%lld",
                     (v = json_object_get(st, "max_attempts")) ? json_integer_value(v) : 5);
            snprintf(tmo, sizeof tmo, "%lld",
                     (v = json_object_get(st, "timeout_s")) ? json_integer_value(v) : 600);
            snprintf(round, sizeof round, "%lld",
                     (v = json_object_get(st, "round")) ? json_integer_value(v) : 1);
            json_t *params = json_object_get(st, "params");
            char *ptext = params ? json_dumps(params, JSON_COMPACT) : assay_strdup("{}");
            const char *p[] = {jid,
                               idx,
                               json_string_value(json_object_get(st, "name")),
                               json_string_value(json_object_get(st, "kind")),
                               ptext,
                               round,
                               maxa,
                               tmo};
            int r = assay_db_execp(db,
                                   "INSERT INTO stages (job_id, idx, name, kind, params, round,"
                                   " max_attempts, timeout_s) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                                   8, p);
            free(ptext);
            if (r != 0) goto db_err;
        }
        const char *p[] = {jid, dataset};
        if (!staged) {
            /* a new dataset whose lines have no priority: item id order, no sort */
            nitems = s_count(db, o->input && !o->prioritized ? s_job_plain : s_job_dataset, 2, p);
        } else {
            long long old = s_count(db, s_stage_existing, 0, NULL);
            inserted = old < 0 ? -1 : s_count(db, s_stage_new, 0, NULL);
            nitems = inserted < 0 ? -1 : s_count(db, s_job_staged, 1, p);
        }
        if (nitems < 0) goto db_err;
        if (nitems == 0) {
            assay_db_rollback(db);
            assay_cli_error("submit", "dataset \"%s\" has no items: nothing submitted", dataset);
            rc = ASSAY_EXIT_NOTFOUND;
            goto out;
        }
    }
    if (assay_db_exec(db, "NOTIFY assay_jobs") != 0 || assay_db_commit(db) != 0) goto db_err;
report:
    if (o->json)
        printf("{\"job\":%lld,\"dataset\":\"%s\",\"lines\":%lld,\"new_items\":%lld,"
               "\"items\":%lld,\"decontaminated\":%lld,\"near_duplicates\":%lld,\"dry_run\":%s}\n",
               o->dry_run ? 0 : job_id, dataset, nlines, inserted, nitems, o->contaminated, o->near_dups,
               o->dry_run ? "true" : "false");
    else if (o->dry_run)
        printf("dry run: %lld lines valid, %lld new items, job would run over %lld items; "
               "nothing changed\n", nlines, inserted, nitems);
    else
        printf("job %lld submitted: dataset \"%s\", %lld lines read, %lld new items, %lld items "
               "in the job\n", job_id, dataset, nlines, inserted, nitems);
    rc = ASSAY_EXIT_OK;
    goto out;

db_err:
    assay_cli_error("submit", "%s", assay_db_error(db));
    assay_db_rollback(db);
    rc = ASSAY_EXIT_DB;
out:
    PQclear(res);
    free(dataset);
    return rc;
}

/* read an evaluation set: the "question" of every line */
static int s_load_eval(assay_overlap_t *eval, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        assay_cli_error("submit", "could not open evaluation set \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long long lineno = 0, n = 0;
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        json_t *q = json_object_get(j, "question");
        if (!json_is_string(q)) {
            assay_cli_error("submit", "%s:%lld: expected a JSON object with a \"question\" string",
                            path, lineno);
            json_decref(j);
            free(line);
            fclose(f);
            return -1;
        }
        assay_overlap_add(eval, json_string_value(q));
        n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (n == 0) {
        assay_cli_error("submit", "evaluation set \"%s\" has no questions", path);
        return -1;
    }
    return 0;
}

int assay_cmd_submit(assay_cli_t *cli, int argc, char **argv)
{
    s_opts_t o = {0};
    int r = s_parse(argc, argv, &o);
    if (r != 0) return r > 0 ? ASSAY_EXIT_OK : ASSAY_EXIT_USAGE;
    char err[1024];
    json_t *spec = assay_spec_load(o.spec_path, err, sizeof err);
    if (!spec) {
        assay_cli_error("submit", "%s", err);
        return ASSAY_EXIT_FAIL;
    }
    /* endpoints and templates the stages name, before anything is written */
    char why[900];
    if (assay_spec_check_config(spec, cli->config, why, sizeof why) != 0) {
        assay_cli_error("submit", "%s: %s", o.spec_path, why);
        json_decref(spec);
        return ASSAY_EXIT_FAIL;
    }
    o.needs = assay_spec_needs_new(spec, assay_spec_prompts_dir(cli->config));
    if (o.decontaminate) {
        if (!o.overlap) o.overlap = 64;
        o.eval = assay_overlap_new((size_t)o.overlap);
        if (s_load_eval(o.eval, o.decontaminate) != 0) {
            assay_overlap_destroy(&o.eval);
            assay_spec_needs_destroy(&o.needs);
            json_decref(spec);
            return ASSAY_EXIT_FAIL;
        }
    }
    int rc = s_submit(cli, &o, spec);
    assay_spec_needs_destroy(&o.needs);
    assay_overlap_destroy(&o.eval);
    json_decref(spec);
    return rc;
}
