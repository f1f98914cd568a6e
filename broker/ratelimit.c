/*  ratelimit.c: see ratelimit.h */
#include "broker/ratelimit.h"

#include "common/util.h"

#include <stdlib.h>

struct assay_ratelimit {
    char *name;
    assay_ratelimit_conf_t conf;
    double factor;     /* 0.05 .. 1: share of the configured rate in force */
    double req_tokens; /* request bucket */
    double tok_tokens; /* token bucket */
    int64_t last_ms;
    int64_t paused_until_ms;
    int64_t last_pushback_ms;
    int64_t last_increase_ms;
    long inflight;
};

assay_ratelimit_t *assay_ratelimit_new(const char *endpoint, const assay_ratelimit_conf_t *conf,
                                       int64_t now_ms)
{
    assay_ratelimit_t *self = ASSAY_NEW(assay_ratelimit_t);
    self->name = assay_strdup(endpoint);
    self->conf = *conf;
    self->factor = 1.0;
    /* start with a second's worth of budget: no burst of a full minute at start */
    self->req_tokens = conf->rpm > 0 ? conf->rpm / 60.0 : 0;
    self->tok_tokens = conf->tpm > 0 ? conf->tpm / 60.0 : 0;
    self->last_ms = self->last_increase_ms = now_ms;
    self->last_pushback_ms = INT64_MIN / 2; /* never */
    return self;
}

void assay_ratelimit_destroy(assay_ratelimit_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->name);
    free(*self_p);
    *self_p = NULL;
}

const char *assay_ratelimit_name(const assay_ratelimit_t *self)
{
    return self->name;
}

static void s_refill(assay_ratelimit_t *self, int64_t now_ms)
{
    if (now_ms <= self->last_ms) return;
    double minutes = (now_ms - self->last_ms) / 60000.0;
    self->last_ms = now_ms;
    /* additive increase: a tenth of the configured rate back per quiet minute */
    if (self->factor < 1.0 && now_ms - self->last_pushback_ms > 60000 &&
        now_ms - self->last_increase_ms > 60000) {
        self->factor += 0.1;
        if (self->factor > 1.0) self->factor = 1.0;
        self->last_increase_ms = now_ms;
    }
    /* buckets hold at most one second of budget: bursts stay small */
    if (self->conf.rpm > 0) {
        double rate = self->conf.rpm * self->factor;
        self->req_tokens += rate * minutes;
        if (self->req_tokens > rate / 60.0) self->req_tokens = rate / 60.0;
    }
    if (self->conf.tpm > 0) {
        double rate = self->conf.tpm * self->factor;
        self->tok_tokens += rate * minutes;
        if (self->tok_tokens > rate / 60.0) self->tok_tokens = rate / 60.0;
    }
}

int assay_ratelimit_acquire(assay_ratelimit_t *self, double requests, double tokens,
                            int64_t now_ms)
{
    if (now_ms < self->paused_until_ms) return 0;
    if (self->conf.max_concurrency > 0 && self->inflight >= self->conf.max_concurrency) return 0;
    s_refill(self, now_ms);
    /* a task larger than a whole bucket may start once the bucket is full, or it
     * would wait forever */
    if (self->conf.rpm > 0) {
        double cap = self->conf.rpm * self->factor / 60.0;
        if (self->req_tokens < (requests < cap ? requests : cap)) return 0;
    }
    if (self->conf.tpm > 0) {
        double cap = self->conf.tpm * self->factor / 60.0;
        if (self->tok_tokens < (tokens < cap ? tokens : cap)) return 0;
    }
    if (self->conf.rpm > 0) self->req_tokens -= requests;
    if (self->conf.tpm > 0) self->tok_tokens -= tokens;
    self->inflight++;
    return 1;
}

void assay_ratelimit_done(assay_ratelimit_t *self)
{
    if (self->inflight > 0) self->inflight--;
}

void assay_ratelimit_pushback(assay_ratelimit_t *self, uint32_t retry_after_ms, int64_t now_ms)
{
    int64_t until = now_ms + (retry_after_ms ? retry_after_ms : 1000);
    if (until > self->paused_until_ms) self->paused_until_ms = until;
    /* halve at most once per second: a burst of 429s from one wave counts once */
    if (now_ms - self->last_pushback_ms > 1000) {
        self->factor /= 2;
        if (self->factor < 0.05) self->factor = 0.05;
    }
    self->last_pushback_ms = now_ms;
    self->req_tokens = 0;
    self->tok_tokens = 0;
}

double assay_ratelimit_rate(const assay_ratelimit_t *self)
{
    return self->conf.rpm * self->factor;
}

long assay_ratelimit_inflight(const assay_ratelimit_t *self)
{
    return self->inflight;
}

int64_t assay_ratelimit_next_ms(const assay_ratelimit_t *self, int64_t now_ms)
{
    if (now_ms < self->paused_until_ms) return self->paused_until_ms;
    return now_ms + 50;
}
