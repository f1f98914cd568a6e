/*  ratelimit.h: global per-endpoint rate limits, enforced by the broker at dispatch.
 *
 *  Every endpoint named in the configuration (`[endpoint.NAME]`: rpm, tpm,
 *  max_concurrency) gets a limiter: a token bucket for requests per minute, one for
 *  tokens per minute, and a cap on tasks in flight across all workers. A task that
 *  would exceed a limit waits in the queue; nothing is dropped.
 *
 *  Adaptive: when a worker reports a 429 from an endpoint (FAIL with an endpoint
 *  and a Retry-After), the limiter stops that endpoint for everybody until the
 *  Retry-After has passed and halves its effective rate; each minute without a 429
 *  gives back a tenth of the configured rate (additive increase, multiplicative
 *  decrease), so the fleet settles just under what the endpoint accepts.
 */
#ifndef ASSAY_RATELIMIT_H
#define ASSAY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_ratelimit assay_ratelimit_t;

typedef struct {
    double rpm;          /* requests per minute (0 = no limit) */
    double tpm;          /* tokens per minute (0 = no limit) */
    long max_concurrency; /* tasks in flight across the fleet (0 = no limit) */
} assay_ratelimit_conf_t;

assay_ratelimit_t *assay_ratelimit_new(const char *endpoint, const assay_ratelimit_conf_t *conf,
                                       int64_t now_ms);
void assay_ratelimit_destroy(assay_ratelimit_t **self_p);
const char *assay_ratelimit_name(const assay_ratelimit_t *self);

/* may a task making `requests` requests and about `tokens` tokens start now? On yes
 * the budget is taken and the task counts as in flight until assay_ratelimit_done. */
int assay_ratelimit_acquire(assay_ratelimit_t *self, double requests, double tokens,
                            int64_t now_ms);
void assay_ratelimit_done(assay_ratelimit_t *self);
/* the endpoint pushed back: stop until now + retry_after_ms (default 1 s), slow down */
void assay_ratelimit_pushback(assay_ratelimit_t *self, uint32_t retry_after_ms, int64_t now_ms);
/* current effective requests-per-minute rate (for logs and metrics) */
double assay_ratelimit_rate(const assay_ratelimit_t *self);
long assay_ratelimit_inflight(const assay_ratelimit_t *self);
/* the earliest time a refused task could pass, for the loop's poll timeout */
int64_t assay_ratelimit_next_ms(const assay_ratelimit_t *self, int64_t now_ms);

#endif
