/*  cmd_control.c: `assay pause|resume|cancel JOB` and `assay retry JOB [--list]`:
 *  state changes the broker picks up on its next pass (woken by NOTIFY). */
#include "ops/cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay pause JOB      stop dispatching the job's tasks (running ones finish)\n"
    "       assay resume JOB     dispatch a paused job's tasks again\n"
    "       assay cancel JOB     cancel for good: pending tasks become cancelled, running\n"
    "                            ones finish or time out; their results are still stored\n"
    "       assay retry JOB      put the job's dead tasks back to pending with a fresh\n"
    "                            attempt budget (the last error is kept until they run)\n"
    "       assay retry JOB --list [--json]   list dead tasks with their last error\n"
    "\n"
    "examples:\n"
    "  assay pause 7 && assay resume 7\n"
    "  assay retry 7 --list\n";

static int s_list_dead(assay_db_t *db, const char *jid, int json)
{
    const char *p[] = {jid};
    PGresult *res = assay_db_query(db,
                                   "SELECT t.id, s.name, t.item_id, t.attempt, coalesce(t.last_error, '')"
                                   " FROM tasks t JOIN stages s ON s.id = t.stage_id"
                                   " WHERE t.job_id = $1 AND t.state = 'dead' ORDER BY t.id",
                                   1, p);
    if (!res) {
        assay_cli_error("retry", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    int n = PQntuples(res);
    if (json) {
        json_t *arr = json_array();
        for (int r = 0; r < n; r++)
            json_array_append_new(arr, json_pack("{s:I,s:s,s:I,s:i,s:s}", "task",
                                                 (json_int_t)atoll(PQgetvalue(res, r, 0)), "stage",
                                                 PQgetvalue(res, r, 1), "item",
                                                 (json_int_t)atoll(PQgetvalue(res, r, 2)),
                                                 "attempts", atoi(PQgetvalue(res, r, 3)), "error",
                                                 PQgetvalue(res, r, 4)));
        char *s = json_dumps(arr, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(arr);
    } else {
        printf("%-10s %-16s %-10s %8s  %s\n", "TASK", "STAGE", "ITEM", "ATTEMPTS", "LAST ERROR");
        for (int r = 0; r < n; r++)
            printf("%-10s %-16.16s %-10s %8s  %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
        if (n == 0) printf("(no dead tasks)\n");
    }
    PQclear(res);
    return ASSAY_EXIT_OK;
}

int assay_cmd_control(assay_cli_t *cli, int argc, char **argv)
{
    const char *verb = argv[0];
    const char *job = NULL;
    int list = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (assay_cli_is_help(argv[i])) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(verb, "retry") == 0 && strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else if (strcmp(verb, "retry") == 0 && strcmp(argv[i], "--dead") == 0) {
            /* the default: dead tasks are what retry retries */
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] != '-' && !job) {
            job = argv[i];
        } else {
            assay_cli_error(verb, "unknown argument \"%s\" (see `assay %s --help`)", argv[i], verb);
            return ASSAY_EXIT_USAGE;
        }
    }
    if (!job) {
        assay_cli_error(verb, "which job? (usage: assay %s JOB; `assay jobs` lists them)", verb);
        return ASSAY_EXIT_USAGE;
    }
    long long id = assay_cli_job_id(verb, job);
    if (id < 0) return ASSAY_EXIT_USAGE;
    char jid[32];
    snprintf(jid, sizeof jid, "%lld", id);
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    const char *p[] = {jid};
    PGresult *res = assay_db_query(db, "SELECT state FROM jobs WHERE id = $1", 1, p);
    if (!res) {
        assay_cli_error(verb, "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        assay_cli_error(verb, "job %s does not exist (see `assay jobs`)", jid);
        return ASSAY_EXIT_NOTFOUND;
    }
    char state[32];
    snprintf(state, sizeof state, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (list) return s_list_dead(db, jid, json);

    const char *from = NULL, *to = NULL;
    if (!strcmp(verb, "pause")) from = "running", to = "paused";
    if (!strcmp(verb, "resume")) from = "paused", to = "running";
    if (!strcmp(verb, "cancel")) from = NULL, to = "cancelled";
    if (!strcmp(verb, "retry")) {
        if (!strcmp(state, "cancelled")) {
            assay_cli_error("retry", "job %s is cancelled; its tasks cannot be retried", jid);
            return ASSAY_EXIT_FAIL;
        }
        if (assay_db_begin(db) != 0) goto db_err;
        res = assay_db_query(db,
                             "WITH r AS (UPDATE tasks SET state = 'pending', attempt = 0,"
                             " not_before = now(), finished_at = NULL"
                             " WHERE job_id = $1 AND state = 'dead' RETURNING 1)"
                             " SELECT count(*) FROM r",
                             1, p);
        if (!res) goto db_err;
        long long n = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (assay_db_execp(db, "UPDATE jobs SET state = 'running', finished_at = NULL"
                               " WHERE id = $1 AND state = 'done'", 1, p) != 0 ||
            assay_db_exec(db, "NOTIFY assay_jobs") != 0 || assay_db_commit(db) != 0)
            goto db_err;
        printf("job %s: %lld dead tasks back to pending\n", jid, n);
        return ASSAY_EXIT_OK;
    }
    if (!strcmp(state, to)) {
        printf("job %s is already %s\n", jid, to);
        return ASSAY_EXIT_OK;
    }
    if ((from && strcmp(state, from) != 0) || !strcmp(state, "cancelled") ||
        (!strcmp(verb, "cancel") && !strcmp(state, "done"))) {
        assay_cli_error(verb, "job %s is %s; %s applies to a %s job", jid, state, verb,
                        from ? from : "running or paused");
        return ASSAY_EXIT_FAIL;
    }
    if (assay_db_begin(db) != 0) goto db_err;
    const char *q[] = {jid, to};
    if (assay_db_execp(db, "UPDATE jobs SET state = $2 WHERE id = $1", 2, q) != 0) goto db_err;
    if (!strcmp(verb, "cancel") &&
        assay_db_execp(db, "UPDATE tasks SET state = 'cancelled', finished_at = now()"
                           " WHERE job_id = $1 AND state = 'pending'", 1, p) != 0)
        goto db_err;
    if (assay_db_exec(db, "NOTIFY assay_jobs") != 0 || assay_db_commit(db) != 0) goto db_err;
    printf("job %s %s\n", jid, to);
    return ASSAY_EXIT_OK;
db_err:
    assay_cli_error(verb, "%s", assay_db_error(db));
    assay_db_rollback(db);
    return ASSAY_EXIT_DB;
}
