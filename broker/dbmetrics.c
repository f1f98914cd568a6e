/*  dbmetrics.c: see dbmetrics.h */
#include "broker/dbmetrics.h"

#include "common/db/db.h"
#include "common/log.h"
#include "common/metrics.h"

#include <stdlib.h>
#include <string.h>

struct assay_dbmetrics {
    char *conninfo;
    assay_db_t *db;
};

assay_dbmetrics_t *assay_dbmetrics_new(const char *conninfo)
{
    assay_dbmetrics_t *self = ASSAY_NEW(assay_dbmetrics_t);
    self->conninfo = assay_strdup(conninfo ? conninfo : "");
    return self;
}

void assay_dbmetrics_destroy(assay_dbmetrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_dbmetrics_t *self = *self_p;
    assay_db_destroy(&self->db);
    free(self->conninfo);
    free(self);
    *self_p = NULL;
}

void assay_dbmetrics_collect(assay_buf_t *out, void *arg)
{
    assay_dbmetrics_t *self = arg;
    if (self->db && !assay_db_ok(self->db)) assay_db_destroy(&self->db);
    if (!self->db) {
        char err[512];
        self->db = assay_db_connect(self->conninfo, "assay-broker-metrics", err, sizeof err);
        if (!self->db) {
            log_warn("metrics", "no database for /metrics: %s", err);
            assay_buf_adds(out, "# HELP assay_metrics_db_up 1 when /metrics could read the database\n"
                                "# TYPE assay_metrics_db_up gauge\nassay_metrics_db_up 0\n");
            return;
        }
    }
    /* only unfinished jobs: finished rows never leave the table, and a scrape
     * must stay cheap however much history accumulates */
    PGresult *res = assay_db_query(
        self->db,
        "SELECT job_id, name, kind, state, sum(n) FROM ("
        " SELECT t.job_id, s.name, t.kind, t.state::text AS state, count(*) AS n"
        " FROM tasks t JOIN stages s ON s.id = t.stage_id JOIN jobs j ON j.id = t.job_id"
        " WHERE j.state IN ('running', 'paused') GROUP BY 1, 2, 3, 4"
        /* first-stage items not claimed yet wait too */
        " UNION ALL"
        " SELECT s.job_id, s.name, s.kind, 'pending', count(*)"
        " FROM stages s JOIN jobs j ON j.id = s.job_id"
        " JOIN job_items ji ON ji.job_id = s.job_id AND ji.seq > s.claimed_seq"
        " WHERE s.idx = 0 AND j.state IN ('running', 'paused') GROUP BY 1, 2, 3, 4) q"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        0, NULL);
    assay_buf_adds(out, "# HELP assay_metrics_db_up 1 when /metrics could read the database\n"
                        "# TYPE assay_metrics_db_up gauge\n");
    assay_buf_addf(out, "assay_metrics_db_up %d\n", res ? 1 : 0);
    if (!res) {
        log_warn("metrics", "could not read task counts: %s", assay_db_error(self->db));
        return;
    }
    assay_buf_adds(out, "# HELP assay_queue_depth tasks waiting (pending) or running (leased) "
                        "by job, stage and kind\n# TYPE assay_queue_depth gauge\n");
    int n = PQntuples(res);
    char labels[1024];
    for (int r = 0; r < n; r++) {
        const char *state = PQgetvalue(res, r, 3);
        if (strcmp(state, "pending") && strcmp(state, "leased")) continue;
        assay_metrics_labels(labels, sizeof labels, "job", PQgetvalue(res, r, 0), "stage",
                             PQgetvalue(res, r, 1), "kind", PQgetvalue(res, r, 2), "state", state,
                             NULL);
        assay_buf_addf(out, "assay_queue_depth{%s} %s\n", labels, PQgetvalue(res, r, 4));
    }
    assay_buf_adds(out, "# HELP assay_job_tasks tasks of unfinished jobs by state\n"
                        "# TYPE assay_job_tasks gauge\n");
    for (int r = 0; r < n; r++) {
        assay_metrics_labels(labels, sizeof labels, "job", PQgetvalue(res, r, 0), "stage",
                             PQgetvalue(res, r, 1), "kind", PQgetvalue(res, r, 2), "state",
                             PQgetvalue(res, r, 3), NULL);
        assay_buf_addf(out, "assay_job_tasks{%s} %s\n", labels, PQgetvalue(res, r, 4));
    }
    PQclear(res);
}
