/*  queue.c: see queue.h */
#include "broker/queue.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    assay_qtask_t **items;
    size_t head, len, cap;
} s_fifo_t;

typedef struct s_jobq {
    uint64_t job_id;
    double pass;
    s_fifo_t fifo;
} s_jobq_t;

typedef struct {
    char *kind;
    s_jobq_t *jobs;
    size_t njobs, cap;
    size_t count;
} s_kindq_t;

typedef struct {
    uint64_t job_id;
    int weight;
    int priority;
} s_weight_t;

struct assay_queue {
    s_kindq_t *kinds;
    size_t nkinds;
    s_weight_t *weights;
    size_t nweights;
    size_t total;
};

void assay_qtask_free(assay_qtask_t *t)
{
    if (!t) return;
    free(t->kind);
    free(t->input);
    free(t);
}

static void s_fifo_push(s_fifo_t *f, assay_qtask_t *t)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        assay_qtask_t **items = assay_malloc(cap * sizeof *items);
        for (size_t i = 0; i < f->len; i++) items[i] = f->items[(f->head + i) % f->cap];
        free(f->items);
        f->items = items;
        f->head = 0;
        f->cap = cap;
    }
    f->items[(f->head + f->len) % f->cap] = t;
    f->len++;
}

static assay_qtask_t *s_fifo_pop(s_fifo_t *f)
{
    if (!f->len) return NULL;
    assay_qtask_t *t = f->items[f->head];
    f->head = (f->head + 1) % f->cap;
    f->len--;
    return t;
}

assay_queue_t *assay_queue_new(void)
{
    return ASSAY_NEW(assay_queue_t);
}

static void s_free_task(assay_qtask_t *t, void *arg)
{
    (void)arg;
    assay_qtask_free(t);
}

void assay_queue_destroy(assay_queue_t **self_p)
{
    if (!self_p || !*self_p) return;
    assay_queue_t *self = *self_p;
    assay_queue_drain_all(self, s_free_task, NULL);
    for (size_t k = 0; k < self->nkinds; k++) {
        for (size_t j = 0; j < self->kinds[k].njobs; j++) free(self->kinds[k].jobs[j].fifo.items);
        free(self->kinds[k].jobs);
        free(self->kinds[k].kind);
    }
    free(self->kinds);
    free(self->weights);
    free(self);
    *self_p = NULL;
}

static s_weight_t *s_job_conf(const assay_queue_t *self, uint64_t job_id)
{
    for (size_t i = 0; i < self->nweights; i++)
        if (self->weights[i].job_id == job_id) return &self->weights[i];
    return NULL;
}

static int s_weight(const assay_queue_t *self, uint64_t job_id)
{
    s_weight_t *w = s_job_conf(self, job_id);
    return w ? w->weight : 1;
}

static int s_priority(const assay_queue_t *self, uint64_t job_id)
{
    s_weight_t *w = s_job_conf(self, job_id);
    return w ? w->priority : 0;
}

static s_weight_t *s_job_conf_add(assay_queue_t *self, uint64_t job_id)
{
    s_weight_t *w = s_job_conf(self, job_id);
    if (w) return w;
    self->weights = assay_realloc(self->weights, (self->nweights + 1) * sizeof *self->weights);
    w = &self->weights[self->nweights++];
    w->job_id = job_id;
    w->weight = 1;
    w->priority = 0;
    return w;
}

void assay_queue_set_weight(assay_queue_t *self, uint64_t job_id, int weight)
{
    if (weight < 1) weight = 1;
    if (weight > 1000) weight = 1000;
    s_job_conf_add(self, job_id)->weight = weight;
}

void assay_queue_set_priority(assay_queue_t *self, uint64_t job_id, int priority)
{
    s_job_conf_add(self, job_id)->priority = priority;
}

static s_kindq_t *s_kind(const assay_queue_t *self, const char *kind)
{
    for (size_t k = 0; k < self->nkinds; k++)
        if (strcmp(self->kinds[k].kind, kind) == 0) return &self->kinds[k];
    return NULL;
}

void assay_queue_push(assay_queue_t *self, assay_qtask_t *task)
{
    s_kindq_t *kq = s_kind(self, task->kind);
    if (!kq) {
        self->kinds = assay_realloc(self->kinds, (self->nkinds + 1) * sizeof *self->kinds);
        kq = &self->kinds[self->nkinds++];
        memset(kq, 0, sizeof *kq);
        kq->kind = assay_strdup(task->kind);
    }
    s_jobq_t *jq = NULL;
    for (size_t j = 0; j < kq->njobs; j++)
        if (kq->jobs[j].job_id == task->job_id) jq = &kq->jobs[j];
    if (!jq) {
        /* a newcomer starts at the lowest pass among jobs that have work */
        double min = 0;
        int any = 0;
        for (size_t j = 0; j < kq->njobs; j++)
            if (kq->jobs[j].fifo.len && (!any || kq->jobs[j].pass < min)) {
                min = kq->jobs[j].pass;
                any = 1;
            }
        if (kq->njobs == kq->cap) {
            kq->cap = kq->cap ? kq->cap * 2 : 4;
            kq->jobs = assay_realloc(kq->jobs, kq->cap * sizeof *kq->jobs);
        }
        jq = &kq->jobs[kq->njobs++];
        memset(jq, 0, sizeof *jq);
        jq->job_id = task->job_id;
        jq->pass = min;
    } else if (jq->fifo.len == 0) {
        /* an idle job rejoins at the current minimum, not with a saved-up share */
        double min = jq->pass;
        int any = 0;
        for (size_t j = 0; j < kq->njobs; j++)
            if (kq->jobs[j].fifo.len && (!any || kq->jobs[j].pass < min)) {
                min = kq->jobs[j].pass;
                any = 1;
            }
        if (any && jq->pass < min) jq->pass = min;
    }
    s_fifo_push(&jq->fifo, task);
    kq->count++;
    self->total++;
}

assay_qtask_t *assay_queue_pop(assay_queue_t *self, const char *kind)
{
    s_kindq_t *kq = s_kind(self, kind);
    if (!kq || !kq->count) return NULL;
    s_jobq_t *best = NULL;
    for (size_t j = 0; j < kq->njobs; j++) {
        s_jobq_t *jq = &kq->jobs[j];
        if (!jq->fifo.len) continue;
        if (!best || jq->pass < best->pass ||
            (jq->pass == best->pass && s_priority(self, jq->job_id) > s_priority(self, best->job_id)))
            best = jq;
    }
    if (!best) return NULL;
    assay_qtask_t *t = s_fifo_pop(&best->fifo);
    best->pass += 1.0 / s_weight(self, best->job_id);
    kq->count--;
    self->total--;
    return t;
}

size_t assay_queue_count(const assay_queue_t *self, const char *kind)
{
    if (!kind) return self->total;
    s_kindq_t *kq = s_kind(self, kind);
    return kq ? kq->count : 0;
}

size_t assay_queue_count_job(const assay_queue_t *self, uint64_t job_id)
{
    size_t n = 0;
    for (size_t k = 0; k < self->nkinds; k++)
        for (size_t j = 0; j < self->kinds[k].njobs; j++)
            if (self->kinds[k].jobs[j].job_id == job_id) n += self->kinds[k].jobs[j].fifo.len;
    return n;
}

size_t assay_queue_total(const assay_queue_t *self)
{
    return self->total;
}

void assay_queue_drain_job(assay_queue_t *self, uint64_t job_id,
                           void (*fn)(assay_qtask_t *task, void *arg), void *arg)
{
    for (size_t k = 0; k < self->nkinds; k++) {
        s_kindq_t *kq = &self->kinds[k];
        for (size_t j = 0; j < kq->njobs; j++) {
            s_jobq_t *jq = &kq->jobs[j];
            if (jq->job_id != job_id) continue;
            assay_qtask_t *t;
            while ((t = s_fifo_pop(&jq->fifo)) != NULL) {
                kq->count--;
                self->total--;
                fn(t, arg);
            }
        }
    }
}

void assay_queue_drain_all(assay_queue_t *self, void (*fn)(assay_qtask_t *task, void *arg),
                           void *arg)
{
    for (size_t k = 0; k < self->nkinds; k++) {
        s_kindq_t *kq = &self->kinds[k];
        for (size_t j = 0; j < kq->njobs; j++) {
            assay_qtask_t *t;
            while ((t = s_fifo_pop(&kq->jobs[j].fifo)) != NULL) {
                kq->count--;
                self->total--;
                fn(t, arg);
            }
        }
    }
}
