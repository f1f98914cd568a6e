/*  queue.h: the broker's bounded in-memory dispatch queue, with fair share.
 *
 *  Claimed tasks wait here until a worker with credit for their kind asks. Tasks
 *  are grouped by kind, then by job; within a job they leave in claim order (the
 *  claim query already orders by priority). Across jobs the queue uses stride
 *  scheduling: each job has a pass value that advances by 1/weight every time one
 *  of its tasks is taken, and the job with the lowest pass goes next, so a job
 *  of weight 2 gets twice the share of a job of weight 1 and a large job cannot
 *  starve a small one. A job that joins late starts at the current minimum pass,
 *  so it cannot claim a burst of "saved up" share either.
 *
 *  The queue owns the tasks it holds; assay_queue_pop hands ownership to the
 *  caller.
 */
#ifndef ASSAY_QUEUE_H
#define ASSAY_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t id;
    uint32_t attempt;
    uint64_t job_id;
    uint64_t stage_id;
    uint32_t timeout_ms;
    int64_t lease_deadline_ms; /* monotonic time the lease in Postgres runs out */
    char *kind;                /* owned */
    char *input;               /* owned JSON text */
    size_t input_len;
} assay_qtask_t;

void assay_qtask_free(assay_qtask_t *t);

typedef struct assay_queue assay_queue_t;

assay_queue_t *assay_queue_new(void);
/* frees every queued task; nulls *self_p */
void assay_queue_destroy(assay_queue_t **self_p);

/* set a job's fair-share weight (1..1000; unknown jobs default to 1) and its
 * priority (higher wins when two jobs are equally due; default 0) */
void assay_queue_set_weight(assay_queue_t *self, uint64_t job_id, int weight);
void assay_queue_set_priority(assay_queue_t *self, uint64_t job_id, int priority);
/* add a task (the queue takes ownership) */
void assay_queue_push(assay_queue_t *self, assay_qtask_t *task);
/* the next task of kind by fair share, or NULL; the caller owns it */
assay_qtask_t *assay_queue_pop(assay_queue_t *self, const char *kind);
/* tasks queued for kind (all jobs), or for one job (kind NULL = all kinds) */
size_t assay_queue_count(const assay_queue_t *self, const char *kind);
size_t assay_queue_count_job(const assay_queue_t *self, uint64_t job_id);
size_t assay_queue_total(const assay_queue_t *self);
/* remove every task of job and hand each to fn (which takes ownership) */
void assay_queue_drain_job(assay_queue_t *self, uint64_t job_id,
                           void (*fn)(assay_qtask_t *task, void *arg), void *arg);
/* remove every task and hand each to fn (which takes ownership) */
void assay_queue_drain_all(assay_queue_t *self, void (*fn)(assay_qtask_t *task, void *arg),
                           void *arg);

#endif
