/*  store.h: everything the broker reads from and writes to Postgres.
 *
 *  The broker holds one connection. Writes are batched: results, failures and
 *  releases are queued in memory with assay_store_add_*() and written by
 *  assay_store_flush() in one transaction (group commit, synchronous_commit stays
 *  on), once per loop pass. Every write is conditional on (task id, attempt) and
 *  the task's state, so replaying a batch whose commit was lost is harmless: a
 *  result is stored at most once, whatever happens to the broker.
 *
 *  A standby broker waits in assay_store_try_lock() for the advisory lock the
 *  active broker holds; Postgres releases it when the active broker's session
 *  dies, and the standby takes over.
 */
#ifndef ASSAY_STORE_H
#define ASSAY_STORE_H

#include "broker/queue.h"

#include <stddef.h>
#include <stdint.h>

typedef struct assay_store assay_store_t;

/* how long a first-stage task claimed from job_items may run on a worker before
 * its row is written (as leased); most fast tasks report before and are written
 * once */
#define ASSAY_STORE_LEASE_DELAY_MS 20

typedef struct {
    uint64_t id;
    int weight;
    int priority;
    int running; /* 1 running, 0 paused/cancelled/done */
} assay_store_job_t;

typedef struct {
    uint64_t id;
    uint64_t job_id;
    char *kind;
    char *name;   /* the stage's name in its spec */
    char *params; /* JSON text */
    uint32_t timeout_ms;
    int max_attempts;
    char *endpoint;   /* params.endpoint, or NULL: the rate limiter to charge */
    double requests;  /* endpoint requests one task makes (params.n, default 1) */
    double tokens;    /* tokens one task is expected to use (n * (max_tokens or 1024) + 512) */
    int chained;      /* its results write samples or scores, or feed a next stage */
} assay_store_stage_t;

/* why a result was not stored (assay_broker_results_ignored_total{reason}) */
typedef enum {
    ASSAY_IGNORED_STALE_ATTEMPT, /* the task runs again under a newer attempt */
    ASSAY_IGNORED_DUPLICATE,     /* done by another attempt, or twice in one batch */
    ASSAY_IGNORED_REPLAYED,      /* this very attempt's result is stored already */
    ASSAY_IGNORED_TASK_ENDED,    /* the task is dead or cancelled */
    ASSAY_IGNORED_UNKNOWN_TASK,  /* no such task */
    ASSAY_IGNORED_OTHER,         /* an attempt newer than the task's (should not happen) */
    ASSAY_IGNORED_N
} assay_store_ignored_t;

/* the label value of a reason: "stale_attempt", "duplicate", ... */
const char *assay_store_ignored_name(int reason);

typedef struct {
    uint64_t results_stored;   /* results that became done */
    uint64_t results_ignored;  /* results not stored: the sum of ignored[] */
    uint64_t ignored[ASSAY_IGNORED_N]; /* by reason */
    uint64_t poisoned;         /* tasks made dead because workers kept dying on them */
    uint64_t fails_retried;    /* failures sent back to pending with a delay */
    uint64_t fails_dead;       /* failures that made the task dead */
    uint64_t released;         /* tasks handed back without counting an attempt */
    uint64_t tasks_created;    /* next-stage tasks created by results */
    uint64_t flushes;
} assay_store_stats_t;

/* connect; NULL with the reason in err */
assay_store_t *assay_store_new(const char *conninfo, char *err, size_t errlen);
void assay_store_destroy(assay_store_t **self_p);
/* the last error (one line) */
const char *assay_store_error(const assay_store_t *self);
/* the socket to poll for NOTIFY (assay_jobs), or -1 */
int assay_store_fd(assay_store_t *self);
/* read what arrived on the socket; returns 1 when a notification came, 0 if none,
 * -1 when the connection is broken */
int assay_store_poll_notify(assay_store_t *self);
/* reconnect after a failure (and re-LISTEN); 0 or -1 */
int assay_store_reconnect(assay_store_t *self);

/* try the broker advisory lock: 1 got it, 0 another broker holds it, -1 error */
int assay_store_try_lock(assay_store_t *self);

/* after taking over: every leased task was leased by a broker that is gone. Tasks
 * with attempts left go back to pending, claimable after grace_ms (capped by the
 * stage's timeout: their workers, usually still running them, get to report
 * first), the others become dead; first-stage items that broker claimed without
 * writing their task get a pending task (gaps). */
int assay_store_recover(assay_store_t *self, int grace_ms, uint64_t *requeued, uint64_t *dead,
                        uint64_t *gaps);
/* return leases that ran out (lease_expires older than grace_s) to pending */
int assay_store_expire_leases(assay_store_t *self, int grace_s, uint64_t *expired);

/* running and paused jobs; fn is called for each. Returns 0 or -1. */
int assay_store_load_jobs(assay_store_t *self, void (*fn)(const assay_store_job_t *job, void *arg),
                          void *arg);
/* mark running jobs with nothing left to claim, pending or leased as done (and
 * cancelled jobs with nothing leased as finished), except the busy ones: jobs
 * with tasks queued or running in the broker. Returns 0 or -1. */
int assay_store_finish_jobs(assay_store_t *self, const uint64_t *busy, size_t nbusy,
                            uint64_t *finished);
/* true while a flush waits for Postgres and lets the broker serve workers: the
 * main connection is taken, so a stage not loaded yet cannot be loaded now */
int assay_store_busy(const assay_store_t *self);
/* a stage by id (cached; loaded on first use); NULL on error or when busy */
const assay_store_stage_t *assay_store_stage(assay_store_t *self, uint64_t stage_id);

/* kinds with runnable work: a running job's stage with pending tasks, or a first
 * stage with items not claimed yet. fn is called once per kind, with the first
 * such stage (lowest job id, then stage index). Returns 0 or -1. */
int assay_store_waiting_kinds(assay_store_t *self,
                              void (*fn)(const char *kind, uint64_t job_id, const char *stage,
                                         void *arg),
                              void *arg);

/* claim up to limits[i] pending tasks of kind for each job_ids[i] (one round
 * trip) and push them onto q with their next attempt number. Called inside
 * assay_store_flush's transaction, the claims are only real once it commits:
 * push onto a staging queue and move the tasks to the dispatch queue after a
 * successful flush. The claim itself only reads; the lease (state leased,
 * attempt + 1, lease_expires) is written by the next flush, before its claims,
 * unless a result, failure or release for the task comes first: then that
 * write moves the task from pending to its outcome directly (one row write per
 * fast task instead of two). Only the broker holding the advisory lock claims. */
long assay_store_claim(assay_store_t *self, const char *kind, const uint64_t *job_ids,
                       const int *limits, size_t njobs, assay_queue_t *q);

/* record the connected workers (names, slots as a JSON object, totals) for
 * `assay workers`; every worker not named is marked disconnected. */
int assay_store_save_workers(assay_store_t *self, const char *const *names,
                             const char *const *slots_json, const long long *done,
                             const long long *failed, size_t n);

/* queue writes for the next flush (copies what it keeps) */
/* stage_id (0 if unknown) lets a batch of results of final stages that write no
 * samples or scores skip the statements that would find nothing to do */
void assay_store_add_result(assay_store_t *self, uint64_t id, uint32_t attempt, uint64_t stage_id,
                            const char *output, size_t output_len, const char *worker,
                            double elapsed_ms);
/* a failed attempt: dead when !retryable (or out of attempts), else pending again
 * after delay_ms */
void assay_store_add_fail(assay_store_t *self, uint64_t id, uint32_t attempt, int retryable,
                          uint32_t delay_ms, const char *reason, const char *worker);
/* a task whose worker died while it ran it (gone without a word: missed
 * heartbeats). Like a retryable failure, but counted in tasks.worker_deaths: the
 * death that reaches assay_store_set_poison_deaths()'s limit makes the task dead
 * ("worker died running this task (possible poison input)") instead of handing it
 * to the next worker. A worker that drains or says goodbye is not a death. */
void assay_store_add_lost(assay_store_t *self, uint64_t id, uint32_t attempt, uint32_t delay_ms,
                          const char *reason, const char *worker);
/* how many worker deaths make a task dead (default ASSAY_STORE_POISON_DEATHS; 0 = never) */
void assay_store_set_poison_deaths(assay_store_t *self, int deaths);
#define ASSAY_STORE_POISON_DEATHS 2
/* a claimed task that was never run (queued when a job paused, broker stopping):
 * back to pending without counting the attempt */
void assay_store_add_release(assay_store_t *self, uint64_t id, uint32_t attempt);
/* reports queued for the next flush */
size_t assay_store_pending(const assay_store_t *self);
/* claimed tasks whose lease a later flush writes (if they do not report first) */
size_t assay_store_unleased(const assay_store_t *self);
/* a claimed task was handed to a worker: a first-stage task claimed from job_items
 * is leased ASSAY_STORE_LEASE_DELAY_MS after this unless it reports first (while
 * it waits in the broker's queue, the stage cursor alone keeps it from being
 * claimed again) */
void assay_store_dispatched(assay_store_t *self, uint64_t id, uint32_t attempt);
/* The side writer: results of first-stage tasks of stages that feed nothing (no
 * samples, scores or next stage) are written on a second connection, one
 * statement at a time, while the main connection claims and writes the rest.
 * side_work sends the next batch when none is in flight and takes the outcome of
 * the one in flight (poll side_fd, -1 when nothing is in flight); a failed batch
 * is sent again (it writes nothing twice). side_flush waits for it and writes
 * what is left on the main connection (before the broker stops); 0 or -1. */
void assay_store_side_work(assay_store_t *self, assay_store_stats_t *stats);
int assay_store_side_fd(assay_store_t *self);
size_t assay_store_side_pending(const assay_store_t *self);
int assay_store_side_flush(assay_store_t *self, assay_store_stats_t *stats);

/* write everything queued in one transaction. drain (may be NULL) is called after
 * the writes: it reads reports that arrived meanwhile (they are queued with
 * assay_store_add_*) and returns how many it took; while it takes some, they are
 * written in the same transaction (up to four rounds). Then the leases of earlier
 * claims still running are written, then every report queued by then (a claim
 * that reported before its lease was written is still pending in Postgres: the
 * claims must see its outcome, or they would take it again), and in_txn (may be
 * NULL) runs: the broker
 * claims new tasks there, so one commit covers a whole loop pass; it returns 0,
 * or -1 to abort. On failure everything queued stays queued (it is safe to
 * replay) and -1 is returned. */
int assay_store_flush(assay_store_t *self, assay_store_stats_t *stats, int (*drain)(void *arg),
                      int (*in_txn)(void *arg), void *arg);

#endif
