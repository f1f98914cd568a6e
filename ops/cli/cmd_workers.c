/*  cmd_workers.c: `assay workers`: the workers the broker has seen (table
 *  workers, upserted by the broker every few seconds), whether they are up, their
 *  slots per kind, totals and the tasks they hold right now. */
#include "ops/cli/cli.h"
#include "ops/cli/table.h"

#include "common/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char s_help[] =
    "usage: assay workers [--json] [--stale SECONDS] [--all]\n"
    "\n"
    "List the workers the broker has seen: state, slots per task kind, tasks held now\n"
    "(leased), tasks done and failed since the worker first connected, last contact.\n"
    "state: up (connected, heard from within --stale seconds, default 30), stale\n"
    "(connected but silent longer: hung, or the broker stopped writing), gone\n"
    "(disconnected). Without --all, workers gone for more than a day are left out.\n"
    "Below the table: each task kind that running jobs have runnable tasks for while\n"
    "no up worker serves it (report_stalled_stages; up = heard from in 30 s).\n"
    "\n"
    "examples:\n"
    "  assay workers\n"
    "  assay workers --json | jq '.[] | select(.state != \"up\") | .name'\n";

int assay_cmd_workers(assay_cli_t *cli, int argc, char **argv)
{
    int json = 0, all = 0;
    long stale = 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (assay_cli_is_help(a)) {
            fputs(s_help, stdout);
            return ASSAY_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if (strcmp(a, "--stale") == 0) {
            char *end = NULL;
            if (i + 1 < argc) stale = strtol(argv[++i], &end, 10);
            if (!end || *end || end == argv[i] || stale < 1) {
                assay_cli_error("workers",
                                "--stale needs a number of seconds >= 1 (e.g. --stale 60)");
                return ASSAY_EXIT_USAGE;
            }
        } else {
            assay_cli_error("workers", "unknown argument \"%s\" (see `assay workers --help`)", a);
            return ASSAY_EXIT_USAGE;
        }
    }
    assay_db_t *db = assay_cli_db(cli);
    if (!db) return ASSAY_EXIT_DB;
    char st[32];
    snprintf(st, sizeof st, "%ld", stale);
    const char *p[] = {st, all ? "t" : "f"};
    PGresult *res = assay_db_query(
        db,
        "SELECT w.name,"
        " CASE WHEN NOT w.connected THEN 'gone'"
        "      WHEN w.last_seen < now() - make_interval(secs => $1::int) THEN 'stale'"
        "      ELSE 'up' END AS state,"
        " CASE WHEN jsonb_typeof(w.slots) = 'object' THEN (SELECT string_agg(key || '=' || value,"
        "   ',' ORDER BY key) FROM jsonb_each_text(w.slots)) END AS slots,"
        " (SELECT count(*) FROM tasks t WHERE t.state = 'leased' AND t.worker = w.name) AS leased,"
        " w.done, w.failed,"
        " to_char(w.first_seen, 'YYYY-MM-DD HH24:MI:SS') AS first_seen,"
        " to_char(w.last_seen, 'YYYY-MM-DD HH24:MI:SS') AS last_seen,"
        " round(extract(epoch FROM now() - w.last_seen))::bigint AS seen_s_ago"
        " FROM workers w"
        " WHERE $2::boolean OR w.connected OR w.last_seen > now() - interval '1 day'"
        " ORDER BY w.connected DESC, w.name",
        2, p);
    if (!res) {
        assay_cli_error("workers", "%s", assay_db_error(db));
        return ASSAY_EXIT_DB;
    }
    if (json) {
        json_t *arr = assay_cli_table_json(res);
        /* slots as an object for scripts, not the display string */
        for (size_t k = 0; k < json_array_size(arr); k++) {
            json_t *o = json_array_get(arr, k), *slots = json_object();
            const char *s = json_string_value(json_object_get(o, "slots"));
            char *copy = s ? assay_strdup(s) : NULL, *save = NULL;
            for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
                 tok = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(tok, '=');
                if (!eq) continue;
                *eq = '\0';
                json_object_set_new(slots, tok, json_integer(strtoll(eq + 1, NULL, 10)));
            }
            free(copy);
            json_object_set_new(o, "slots", slots);
        }
        char *out = json_dumps(arr, JSON_COMPACT);
        puts(out);
        free(out);
        json_decref(arr);
    } else if (PQntuples(res) == 0) {
        printf("no workers seen yet (start one with `assay-worker --broker tcp://HOST:PORT`)\n");
    } else {
        assay_cli_table_print(stdout, res, NULL, cli->color);
    }
    PQclear(res);
    if (!json) {
        /* the other side of the fleet: work that waits for a kind nobody serves */
        res = assay_db_query(db,
                             "SELECT kind, sum(runnable)::bigint,"
                             " string_agg(format('job %s stage %s', job_id, stage), ', '"
                             "  ORDER BY job_id, stage_idx)"
                             " FROM report_stalled_stages GROUP BY kind ORDER BY kind",
                             0, NULL);
        if (!res) {
            assay_cli_error("workers", "%s", assay_db_error(db));
            return ASSAY_EXIT_DB;
        }
        for (int r = 0; r < PQntuples(res); r++)
            printf("no up worker serves %s: %s runnable tasks wait (%s)\n", PQgetvalue(res, r, 0),
                   PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
        PQclear(res);
    }
    return ASSAY_EXIT_OK;
}
