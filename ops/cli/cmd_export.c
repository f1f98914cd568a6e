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
    "usage: assay export JOB [--stage NAME] [--format samples|outputs] [-o FILE] [--json]\n"
    "\n"
    "Write a job's results as JSONL (to FILE, written atomically, or to stdout).\n"
    "  samples   one line per generated sample: the item (question, options, gold\n"
    "            answer), the sample (reasoning, answer, model, endpoint, tokens, cost)\n"
    "            and lineage (job, stage, spec hash, template hash)\n"
    "  outputs   one line per item: the item's record with the stage's output fields\n"
    "Default stage: the job's last stage; default format: samples for a generate\n"
    "stage, else outputs. Each export to a file is recorded in the datasets table.\n"
    "\n"
    "examples:\n"
    "  assay export 3 -o distill.jsonl\n"
    "  assay export 3 --stage leak --format outputs | head\n";

static const char s_samples_sql[] =
    "SELECT jsonb_build_object("
    " 'job', sa.job_id, 'stage', s.name, 'item_id', i.id, 'ext_id', i.ext_id,"
    " 'dataset', i.dataset, 'kind', i.kind, 'question', i.question, 'options', i.options,"
    " 'gold', i.answer, 'category', i.category,"
    " 'sample', jsonb_build_object('task_id', sa.task_id, 'idx', sa.idx,"
    "   'reasoning', sa.reasoning, 'answer', sa.answer, 'model', sa.model,"
    "   'endpoint', sa.endpoint, 'template', sa.template, 'template_hash', sa.template_hash,"
    "   'prompt_tokens', sa.prompt_tokens, 'completion_tokens', sa.completion_tokens,"
    "   'reasoning_tokens', sa.reasoning_tokens, 'latency_ms', sa.latency_ms,"
    "   'cost_usd', sa.cost_usd, 'cached', sa.cached),"
    " 'lineage', jsonb_build_object('spec_hash', j.spec_hash))::text"
    " FROM samples sa JOIN items i ON i.id = sa.item_id JOIN stages s ON s.id = sa.stage_id"
    " JOIN jobs j ON j.id = sa.job_id"
    " WHERE sa.job_id = $1 AND sa.stage_id = $2 ORDER BY sa.item_id, sa.task_id, sa.idx";

static const char s_outputs_sql[] =
    "SELECT (i.record || o.output || jsonb_build_object('item_id', i.id, 'job', o.job_id,"
    " 'stage', s.name, 'lineage', jsonb_build_object('spec_hash', j.spec_hash)))::text"
    " FROM task_outputs o JOIN items i ON i.id = o.item_id JOIN stages s ON s.id = o.stage_id"
    " JOIN jobs j ON j.id = o.job_id"
    " WHERE o.job_id = $1 AND o.stage_id = $2 ORDER BY o.item_id, o.task_id";

int assay_cmd_export(assay_cli_t *cli, int argc, char **argv)
{
    const char *job = NULL, *stage = NULL, *format = NULL, *out = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((!strcmp(a, "--stage") || !strcmp(a, "--format") || !strcmp(a, "-o") ||
                    !strcmp(a, "--output")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--stage"))
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
    if (format && strcmp(format, "samples") && strcmp(format, "outputs")) {
        assay_cli_error("export", "--format \"%s\": expected samples or outputs", format);
        return ASSAY_EXIT_USAGE;
    }
    long long id = assay_cli_job_id("export", job);
    if (id < 0) return ASSAY_EXIT_USAGE;
    char jid[32];
    snprintf(jid, sizeof jid, "%lld", id);
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;

    const char *p[] = {jid, stage};
    PGresult *res = assay_db_query(db,
                                   stage ? "SELECT s.id, s.name, s.kind, j.spec_hash, j.name"
                                           " FROM stages s JOIN jobs j ON j.id = s.job_id"
                                           " WHERE s.job_id = $1 AND s.name = $2"
                                         : "SELECT s.id, s.name, s.kind, j.spec_hash, j.name"
                                           " FROM stages s JOIN jobs j ON j.id = s.job_id"
                                           " WHERE s.job_id = $1 ORDER BY s.idx DESC LIMIT 1",
                                   stage ? 2 : 1, p);
    if (!res) {
        assay_cli_error("export", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (stage)
            assay_cli_error("export", "job %s has no stage \"%s\" (see `assay status %s`)", jid,
                            stage, jid);
        else
            assay_cli_error("export", "job %s does not exist (see `assay jobs`)", jid);
        return ASSAY_EXIT_NOTFOUND;
    }
    char stage_id[32], stage_name[256], kind[64], spec_hash[80], job_name[256];
    snprintf(stage_id, sizeof stage_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(stage_name, sizeof stage_name, "%s", PQgetvalue(res, 0, 1));
    snprintf(kind, sizeof kind, "%s", PQgetvalue(res, 0, 2));
    snprintf(spec_hash, sizeof spec_hash, "%s", PQgetvalue(res, 0, 3));
    snprintf(job_name, sizeof job_name, "%s", PQgetvalue(res, 0, 4));
    PQclear(res);
    if (!format) format = strcmp(kind, "generate") == 0 ? "samples" : "outputs";

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
    const char *q[] = {jid, stage_id};
    long long rows = 0;
    int rc = ASSAY_EXIT_OK;
    if (!PQsendQueryParams(conn, strcmp(format, "samples") == 0 ? s_samples_sql : s_outputs_sql, 2,
                           NULL, q, NULL, NULL, 0) ||
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
    if (rc != ASSAY_EXIT_OK) return rc;
    if (out && strcmp(out, "-") != 0) {
        char nrows[32];
        snprintf(nrows, sizeof nrows, "%lld", rows);
        char *name = assay_sprintf("%s/%s", job_name, stage_name);
        const char *d[] = {jid, name, format, out, nrows, spec_hash, stage_name};
        if (assay_db_execp(db,
                           "INSERT INTO datasets (job_id, name, format, path, rows, spec_hash,"
                           " lineage) VALUES ($1, $2, $3, $4, $5, $6,"
                           " jsonb_build_object('job', $1::bigint, 'stage', $7::text,"
                           " 'spec_hash', $6::text))",
                           7, d) != 0)
            fprintf(stderr, "assay export: warning: export written but not recorded: %s\n",
                    assay_db_error(db));
        free(name);
        if (json)
            printf("{\"job\":%s,\"stage\":\"%s\",\"format\":\"%s\",\"rows\":%lld,\"path\":\"%s\"}\n",
                   jid, stage_name, format, rows, out);
        else
            printf("exported %lld rows (%s, stage %s) to %s\n", rows, format, stage_name, out);
    }
    return ASSAY_EXIT_OK;
}
