/*  cmd_status.c: `assay jobs` (list) and `assay status [JOB] [--watch]`
 *  (progress per stage, from the job_progress view). */
#include "ops/cli/cli.h"

#include "common/util.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_jobs_help[] =
    "usage: assay jobs [--json] [--all]\n"
    "\n"
    "List jobs, newest first: id, name, state, items, tasks done / total.\n"
    "Without --all only the 50 newest are shown.\n"
    "\n"
    "examples:\n"
    "  assay jobs\n"
    "  assay jobs --json | jq '.[] | select(.state == \"running\") | .id'\n";

static const char s_status_help[] =
    "usage: assay status [JOB] [--watch] [--interval SECONDS] [--json]\n"
    "\n"
    "Progress of a job per stage: tasks pending, leased (running), done, dead, and how\n"
    "many are waiting to be retried. Without JOB: every job that is not finished.\n"
    "A stage with runnable tasks while no connected worker serves its kind is named\n"
    "once, with the kind (\"stalled: ...\"; JSON: \"stalled\"), so a pipeline that\n"
    "cannot progress says so instead of sitting at 0%.\n"
    "--watch redraws until the job finishes (Ctrl-C to stop watching; the job goes on).\n"
    "\n"
    "examples:\n"
    "  assay status 12\n"
    "  assay status 12 --watch\n"
    "  assay status --json\n";

int assay_cmd_jobs(assay_cli_t *cli, int argc, char **argv)
{
    int json = 0, all = 0;
    for (int i = 1; i < argc; i++) {
        if (assay_cli_is_help(argv[i])) {
            fputs(s_jobs_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = 1;
        } else {
            assay_cli_error("jobs", "unknown argument \"%s\" (see `assay jobs --help`)", argv[i]);
            return ASSAY_EXIT_USAGE;
        }
    }
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT j.id, j.name, j.state, j.dataset, j.weight,"
             " (SELECT count(*) FROM job_items ji WHERE ji.job_id = j.id),"
             " coalesce(sum(p.done), 0), coalesce(sum(p.tasks), 0), coalesce(sum(p.dead), 0),"
             " to_char(j.created_at, 'YYYY-MM-DD HH24:MI:SS')"
             " FROM jobs j LEFT JOIN job_progress p ON p.job_id = j.id"
             " GROUP BY j.id ORDER BY j.id DESC %s",
             all ? "" : "LIMIT 50");
    PGresult *res = assay_db_query(db, sql, 0, NULL);
    if (!res) {
        assay_cli_error("jobs", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    int n = PQntuples(res);
    if (json) {
        json_t *arr = json_array();
        for (int r = 0; r < n; r++)
            json_array_append_new(
                arr, json_pack("{s:I,s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:s}", "id",
                               (json_int_t)atoll(PQgetvalue(res, r, 0)), "name",
                               PQgetvalue(res, r, 1), "state", PQgetvalue(res, r, 2), "dataset",
                               PQgetvalue(res, r, 3), "weight", atoi(PQgetvalue(res, r, 4)),
                               "items", (json_int_t)atoll(PQgetvalue(res, r, 5)), "done",
                               (json_int_t)atoll(PQgetvalue(res, r, 6)), "tasks",
                               (json_int_t)atoll(PQgetvalue(res, r, 7)), "dead",
                               (json_int_t)atoll(PQgetvalue(res, r, 8)), "created_at",
                               PQgetvalue(res, r, 9)));
        char *s = json_dumps(arr, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(arr);
    } else {
        printf("%-6s %-24s %-10s %-16s %7s %17s %6s  %s\n", "JOB", "NAME", "STATE", "DATASET",
               "ITEMS", "TASKS DONE/ALL", "DEAD", "CREATED");
        for (int r = 0; r < n; r++)
            printf("%-6s %-24.24s %-10s %-16.16s %7s %8s/%-8s %6s  %s\n", PQgetvalue(res, r, 0),
                   PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                   PQgetvalue(res, r, 5), PQgetvalue(res, r, 6), PQgetvalue(res, r, 7),
                   PQgetvalue(res, r, 8), PQgetvalue(res, r, 9));
        if (n == 0) printf("(no jobs yet: submit one with `assay submit`)\n");
    }
    PQclear(res);
    return ASSAY_EXIT_OK;
}

static volatile sig_atomic_t s_interrupted = 0;

static void s_on_sigint(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

/* print one snapshot; returns 1 when every listed job has finished, 0 when not,
 * or a negative exit code */
static int s_show(assay_cli_t *cli, assay_db_t *db, long long job, int json, int redraw,
                  long long *ended, long long *total)
{
    *ended = *total = 0;
    char jid[32];
    snprintf(jid, sizeof jid, "%lld", job);
    const char *p[] = {jid};
    PGresult *jr = assay_db_query(
        db,
        job ? "SELECT id, name, state, weight FROM jobs WHERE id = $1"
            : "SELECT id, name, state, weight FROM jobs WHERE state IN ('running','paused')"
              " ORDER BY id",
        job ? 1 : 0, job ? p : NULL);
    if (!jr) {
        assay_cli_error("status", "%s", assay_db_error(db));
        return -ASSAY_EXIT_DB;
    }
    if (job && PQntuples(jr) == 0) {
        PQclear(jr);
        assay_cli_error("status", "job %lld does not exist (see `assay jobs`)", job);
        return -ASSAY_EXIT_NOTFOUND;
    }
    int finished = 1;
    json_t *out = json ? json_array() : NULL;
    if (redraw && cli->tty) printf("\033[H\033[J");
    for (int j = 0; j < PQntuples(jr); j++) {
        const char *id = PQgetvalue(jr, j, 0), *state = PQgetvalue(jr, j, 2);
        if (!strcmp(state, "running") || !strcmp(state, "paused")) finished = 0;
        const char *q[] = {id};
        PGresult *sr = assay_db_query(db,
                                      "SELECT stage_idx, stage, kind, tasks, pending, leased, done,"
                                      " dead, cancelled, retrying FROM job_progress"
                                      " WHERE job_id = $1 ORDER BY stage_idx",
                                      1, q);
        if (!sr) {
            PQclear(jr);
            json_decref(out);
            assay_cli_error("status", "%s", assay_db_error(db));
            return -ASSAY_EXIT_DB;
        }
        /* stages with runnable tasks that no up worker serves: said once per stage */
        PGresult *wr = assay_db_query(db,
                                      "SELECT stage, kind, runnable FROM report_stalled_stages"
                                      " WHERE job_id = $1 ORDER BY stage_idx",
                                      1, q);
        if (!wr) {
            PQclear(sr);
            PQclear(jr);
            json_decref(out);
            assay_cli_error("status", "%s", assay_db_error(db));
            return -ASSAY_EXIT_DB;
        }
        if (json) {
            json_t *stages = json_array();
            for (int s = 0; s < PQntuples(sr); s++)
                json_array_append_new(
                    stages,
                    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "stage",
                              PQgetvalue(sr, s, 1), "kind", PQgetvalue(sr, s, 2), "tasks",
                              (json_int_t)atoll(PQgetvalue(sr, s, 3)), "pending",
                              (json_int_t)atoll(PQgetvalue(sr, s, 4)), "leased",
                              (json_int_t)atoll(PQgetvalue(sr, s, 5)), "done",
                              (json_int_t)atoll(PQgetvalue(sr, s, 6)), "dead",
                              (json_int_t)atoll(PQgetvalue(sr, s, 7)), "cancelled",
                              (json_int_t)atoll(PQgetvalue(sr, s, 8)), "retrying",
                              (json_int_t)atoll(PQgetvalue(sr, s, 9))));
            json_t *stalled = json_array();
            for (int w = 0; w < PQntuples(wr); w++)
                json_array_append_new(stalled,
                                      json_pack("{s:s,s:s,s:I}", "stage", PQgetvalue(wr, w, 0),
                                                "kind", PQgetvalue(wr, w, 1), "runnable",
                                                (json_int_t)atoll(PQgetvalue(wr, w, 2))));
            json_array_append_new(out, json_pack("{s:I,s:s,s:s,s:o,s:o}", "job",
                                                 (json_int_t)atoll(id), "name",
                                                 PQgetvalue(jr, j, 1), "state", state, "stages",
                                                 stages, "stalled", stalled));
        } else {
            const char *on = cli->color ? "\033[1m" : "", *off = cli->color ? "\033[0m" : "";
            printf("%sjob %s%s %s [%s]\n", on, id, off, PQgetvalue(jr, j, 1), state);
            printf("  %-16s %-12s %8s %8s %8s %8s %6s %8s  %s\n", "STAGE", "KIND", "TASKS",
                   "PENDING", "RUNNING", "DONE", "DEAD", "RETRYING", "PROGRESS");
            for (int s = 0; s < PQntuples(sr); s++) {
                long long tasks = atoll(PQgetvalue(sr, s, 3)), done = atoll(PQgetvalue(sr, s, 6)),
                          dead = atoll(PQgetvalue(sr, s, 7)),
                          canc = atoll(PQgetvalue(sr, s, 8));
                *ended += done + dead + canc;
                *total += tasks;
                char bar[21];
                int fill = tasks ? (int)(20.0 * (done + dead + canc) / tasks) : 0;
                for (int k = 0; k < 20; k++) bar[k] = k < fill ? '#' : '.';
                bar[20] = '\0';
                printf("  %-16.16s %-12.12s %8s %8s %8s %8s %6s %8s  [%s] %3.0f%%\n",
                       PQgetvalue(sr, s, 1), PQgetvalue(sr, s, 2), PQgetvalue(sr, s, 3),
                       PQgetvalue(sr, s, 4), PQgetvalue(sr, s, 5), PQgetvalue(sr, s, 6),
                       PQgetvalue(sr, s, 7), PQgetvalue(sr, s, 9), bar,
                       tasks ? 100.0 * (done + dead + canc) / tasks : 0.0);
            }
            for (int w = 0; w < PQntuples(wr); w++)
                printf("  stalled: stage %s has %s runnable tasks but no connected worker serves "
                       "kind %s (start one with --slots %s=N; see `assay workers`)\n",
                       PQgetvalue(wr, w, 0), PQgetvalue(wr, w, 2), PQgetvalue(wr, w, 1),
                       PQgetvalue(wr, w, 1));
        }
        PQclear(wr);
        PQclear(sr);
    }
    if (!json && PQntuples(jr) == 0) printf("no running jobs\n");
    PQclear(jr);
    if (json) {
        char *s = json_dumps(job && json_array_size(out) == 1 ? json_array_get(out, 0) : out,
                             JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(out);
    }
    fflush(stdout);
    return finished;
}

int assay_cmd_status(assay_cli_t *cli, int argc, char **argv)
{
    long long job = 0;
    int json = 0, watch = 0;
    double interval = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_status_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--watch") == 0) {
            watch = 1;
        } else if (strcmp(a, "--interval") == 0 && i + 1 < argc) {
            interval = atof(argv[++i]);
            if (interval < 0.1) interval = 0.1;
        } else if (a[0] != '-' && !job) {
            job = assay_cli_job_id("status", a);
            if (job < 0) return ASSAY_EXIT_USAGE;
        } else {
            assay_cli_error("status", "unknown argument \"%s\" (see `assay status --help`)", a);
            return ASSAY_EXIT_USAGE;
        }
    }
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    long long ended, total;
    if (!watch) {
        int r = s_show(cli, db, job, json, 0, &ended, &total);
        return r < 0 ? -r : ASSAY_EXIT_OK;
    }
    signal(SIGINT, s_on_sigint);
    long long t0 = 0, ended0 = 0;
    for (;;) {
        int r = s_show(cli, db, job, json, 1, &ended, &total);
        if (r < 0) return -r;
        /* rate and ETA over the watch so far (tasks ended: done, dead or cancelled) */
        long long now = assay_clock_ms();
        if (!t0) t0 = now, ended0 = ended;
        double secs = (now - t0) / 1000.0, rate = secs > 0 ? (ended - ended0) / secs : 0;
        if (!json) {
            printf("%lld/%lld tasks ended, %.1f tasks/s", ended, total, rate);
            if (rate > 0 && ended < total) printf(", ETA %.0fs", (total - ended) / rate);
            printf("\n");
            fflush(stdout);
        }
        if (r == 1 || s_interrupted) break;
        usleep((useconds_t)(interval * 1e6));
        if (s_interrupted) break;
    }
    return ASSAY_EXIT_OK;
}
