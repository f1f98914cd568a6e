/*  dbmetrics.h: scrape-time metrics read from Postgres for the broker's /metrics:
 *  the queue depth (pending and leased tasks) by job, stage and kind, and the
 *  task totals by state of unfinished jobs. It owns its own connection, used only
 *  on the HTTP thread, so a scrape never touches the scheduler's connection.
 */
#ifndef ASSAY_DBMETRICS_H
#define ASSAY_DBMETRICS_H

#include "common/util.h"

typedef struct assay_dbmetrics assay_dbmetrics_t;

assay_dbmetrics_t *assay_dbmetrics_new(const char *conninfo);
void assay_dbmetrics_destroy(assay_dbmetrics_t **self_p);
/* an assay_metrics_collect_fn: arg is the assay_dbmetrics_t */
void assay_dbmetrics_collect(assay_buf_t *out, void *arg);

#endif
