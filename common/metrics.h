/*  metrics.h: a small Prometheus registry and the HTTP endpoint that serves it.
 *
 *  The registry owns metric families (counter, gauge, histogram: name, help,
 *  buckets) and their series (one per label set). Updates and rendering are
 *  thread safe (one mutex): the program updates from its event loop, the HTTP
 *  thread renders. Programs that keep their own counters publish them in batches
 *  with assay_metrics_set, so the hot path stays free of locks.
 *
 *  assay_metrics_serve() starts libmicrohttpd on "HOST:PORT" (IPv4) with:
 *    GET /metrics  Prometheus text format 0.0.4
 *    GET /healthz  200 while the process runs
 *    GET /readyz   200 when the owner said it is ready, else 503 with the reason
 *  Collectors registered with assay_metrics_collector() add text computed at
 *  scrape time (they run on the HTTP thread).
 */
#ifndef ASSAY_METRICS_H
#define ASSAY_METRICS_H

#include "common/util.h"

#include <stddef.h>

typedef struct assay_metrics assay_metrics_t;

typedef enum {
    ASSAY_METRIC_COUNTER = 0,
    ASSAY_METRIC_GAUGE = 1,
    ASSAY_METRIC_HISTOGRAM = 2
} assay_metric_type_t;

/* appends Prometheus text to out; runs on the HTTP thread */
typedef void (*assay_metrics_collect_fn)(assay_buf_t *out, void *arg);

assay_metrics_t *assay_metrics_new(void);
/* stops the HTTP server, frees everything and nulls *self_p; safe on NULL */
void assay_metrics_destroy(assay_metrics_t **self_p);

/* declare a family; buckets (ascending upper bounds, without +Inf) only for
 * histograms (NULL = a default latency scale from 5 ms to 10 min, in seconds).
 * Declaring a name twice keeps the first declaration. */
void assay_metrics_declare(assay_metrics_t *self, const char *name, assay_metric_type_t type,
                           const char *help, const double *buckets, size_t nbuckets);
/* labels is the inside of {...} as made by assay_metrics_labels ("" = none) */
void assay_metrics_set(assay_metrics_t *self, const char *name, const char *labels, double v);
void assay_metrics_add(assay_metrics_t *self, const char *name, const char *labels, double v);
void assay_metrics_observe(assay_metrics_t *self, const char *name, const char *labels, double v);
/* the current value of a counter or gauge series (0 when absent); for tests */
double assay_metrics_get(assay_metrics_t *self, const char *name, const char *labels);

/* format key="value" pairs (NULL-terminated list of key, value) with Prometheus
 * escaping into out; returns out */
char *assay_metrics_labels(char *out, size_t outlen, ...) __attribute__((sentinel));

void assay_metrics_collector(assay_metrics_t *self, assay_metrics_collect_fn fn, void *arg);
/* readiness for /readyz; why is copied (shown with 503) */
void assay_metrics_set_ready(assay_metrics_t *self, int ready, const char *why);

/* the whole exposition text (malloc'd) */
char *assay_metrics_render(assay_metrics_t *self);

/* serve on "HOST:PORT"; 0 or ASSAY_EINVAL / ASSAY_EIO with err */
int assay_metrics_serve(assay_metrics_t *self, const char *addr, char *err, size_t errlen);

#endif
