/*  store_flush_run.c: drives the broker's store (broker/store.c) against a
 *  database that tests/integration/store_flush.sh prepared, one scenario per run,
 *  so that races of a flush become deterministic: a report can be queued at an
 *  exact point inside a flush (while one of its statements runs).
 *
 *  usage: store_flush_run SCENARIO JOB_ID   (connection from ASSAY_DB)
 *    lost_score  claim the job's verify tasks and lease them; then one flush
 *                with a verify result and the failures of every other task but
 *                one (its worker died), the result of that one arriving while
 *                the failures are written; then a flush of what is left
 *    ignored     results the store must not store, one of each reason; prints
 *                the counts by reason
 *    poison      claim the job's first-stage tasks twice: the first task loses
 *                its worker both times (dead as possible poison input), the
 *                second is handed back by a draining worker both times
 *    reclaim     claim the job's two verify tasks; in the next pass the first
 *                one's worker dies and the second reports while that is being
 *                written, before any lease: the pass's claims must not take the
 *                second again (it would run twice)
 *    stale_samples  a late result of generate task 301 (attempt 1; the task runs
 *                attempt 2)
 *    claim_input claim the job's generate tasks, print their inputs
 *  Prints what it did as key=value; exits 0, or 1 on an error, or 2 when the
 *  scenario could not be set up as intended.
 */
#include "broker/queue.h"
#include "broker/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    assay_store_t *store;
    assay_queue_t *q;
    uint64_t job;
    const char *kind;
    int late_added, late_busy;
    uint64_t late_id, late_stage;
} s_ctx_t;

static int s_claim(void *arg)
{
    s_ctx_t *c = arg;
    int lim = 1000;
    return assay_store_claim(c->store, c->kind, &c->job, &lim, 1, c->q) < 0 ? -1 : 0;
}

static int s_nothing(void *arg)
{
    (void)arg;
    return 0;
}

/* the flush's idle function: the first call queues the late result */
static int s_late(void *arg)
{
    s_ctx_t *c = arg;
    if (!c->late_added) {
        c->late_added = 1;
        c->late_busy = assay_store_busy(c->store);
        const char *out = "{\"score\": 1, \"correct\": true, \"scorer\": \"verify\"}";
        assay_store_add_result(c->store, c->late_id, 1, c->late_stage, out, strlen(out), "w-live",
                               5.0);
    }
    return 0;
}

static int s_flush(s_ctx_t *c, assay_store_stats_t *st, int (*drain)(void *), int (*in_txn)(void *))
{
    if (assay_store_flush(c->store, st, drain, in_txn, c) != 0) {
        fprintf(stderr, "store_flush_run: flush failed: %s\n", assay_store_error(c->store));
        return -1;
    }
    return 0;
}

/* claim every runnable task of kind and commit the claims; returns them */
static size_t s_claim_all(s_ctx_t *c, assay_store_stats_t *st, const char *kind,
                          assay_qtask_t **out, size_t max)
{
    c->kind = kind;
    if (s_flush(c, st, NULL, s_claim) != 0) return 0;
    size_t n = 0;
    assay_qtask_t *t;
    while ((t = assay_queue_pop(c->q, kind)) != NULL) {
        assay_store_dispatched(c->store, t->id, t->attempt);
        if (n < max)
            out[n++] = t;
        else
            assay_qtask_free(t);
    }
    return n;
}

static int s_lost_score(s_ctx_t *c)
{
    assay_store_stats_t st = {0};
    assay_qtask_t *t[256];
    size_t n = s_claim_all(c, &st, "verify", t, 256);
    if (n < 3) {
        fprintf(stderr, "store_flush_run: claimed %zu verify tasks, expected at least 3\n", n);
        return 2;
    }
    /* the next pass writes their leases */
    if (s_flush(c, &st, NULL, s_nothing) != 0) return 1;
    /* tasks in id order: t[0] reports now, t[1] while the failures are written,
     * the others were held by the worker that died */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (t[j]->id < t[i]->id) {
                assay_qtask_t *x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    const char *out = "{\"score\": 0.5, \"correct\": false, \"scorer\": \"verify\"}";
    assay_store_add_result(c->store, t[0]->id, t[0]->attempt, t[0]->stage_id, out, strlen(out),
                           "w-live", 4.0);
    for (size_t i = 2; i < n; i++)
        assay_store_add_lost(c->store, t[i]->id, t[i]->attempt, 0, "worker w-dead lost (heartbeat missed)",
                             "w-dead");
    c->late_id = t[1]->id;
    c->late_stage = t[1]->stage_id;
    if (s_flush(c, &st, s_late, s_nothing) != 0) return 1;
    printf("late_added=%d late_during_statement=%d\n", c->late_added, c->late_busy);
    if (!c->late_added || !c->late_busy) {
        fprintf(stderr, "store_flush_run: the late result did not arrive during a statement\n");
        return 2;
    }
    if (assay_store_pending(c->store) && s_flush(c, &st, NULL, NULL) != 0) return 1;
    printf("stored=%llu requeued=%llu dead=%llu\n", (unsigned long long)st.results_stored,
           (unsigned long long)st.fails_retried, (unsigned long long)st.fails_dead);
    for (size_t i = 0; i < n; i++) assay_qtask_free(t[i]);
    return 0;
}

static int s_ignored(s_ctx_t *c)
{
    /* ids and attempts prepared by the script: 201 and 204 done at attempt 1, 202
     * leased at attempt 3, 203 dead at attempt 1, 999999 does not exist */
    assay_store_stats_t st = {0};
    const char *out = "{\"score\": 1, \"scorer\": \"verify\"}";
    struct {
        uint64_t id;
        uint32_t attempt;
    } r[] = {{201, 1}, {204, 2}, {202, 2}, {203, 1}, {999999, 1}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        assay_store_add_result(c->store, r[i].id, r[i].attempt, 0, out, strlen(out), "w", 1.0);
    if (s_flush(c, &st, NULL, NULL) != 0) return 1;
    printf("stored=%llu ignored=%llu", (unsigned long long)st.results_stored,
           (unsigned long long)st.results_ignored);
    for (int k = 0; k < ASSAY_IGNORED_N; k++)
        printf(" %s=%llu", assay_store_ignored_name(k), (unsigned long long)st.ignored[k]);
    printf("\n");
    return 0;
}

/* the flush's idle function for reclaim: the first call queues the result of
 * the late task (late_id) for attempt 1 */
static int s_late_plain(void *arg)
{
    s_ctx_t *c = arg;
    if (!c->late_added) {
        c->late_added = 1;
        c->late_busy = assay_store_busy(c->store);
        const char *out = "{\"score\": 1, \"scorer\": \"verify\"}";
        assay_store_add_result(c->store, c->late_id, 1, c->late_stage, out, strlen(out), "w-b", 2.0);
    }
    return 0;
}

/* claim the job's two verify tasks; in the next pass (nothing leased yet) the
 * first one's worker dies and the second one reports while that is written; the
 * pass's claims must not take the second one again */
static int s_reclaim(s_ctx_t *c)
{
    assay_store_stats_t st = {0};
    assay_qtask_t *t[8];
    size_t n = s_claim_all(c, &st, "verify", t, 8);
    if (n != 2) {
        fprintf(stderr, "store_flush_run: claimed %zu verify tasks, expected 2\n", n);
        return 2;
    }
    if (t[1]->id < t[0]->id) {
        assay_qtask_t *x = t[0];
        t[0] = t[1];
        t[1] = x;
    }
    assay_store_add_lost(c->store, t[0]->id, t[0]->attempt, 600000, "worker w-a lost (heartbeat missed)",
                         "w-a");
    c->late_id = t[1]->id;
    c->late_stage = t[1]->stage_id;
    c->kind = "verify";
    if (s_flush(c, &st, s_late_plain, s_claim) != 0) return 1;
    printf("late_added=%d late_during_statement=%d\n", c->late_added, c->late_busy);
    if (!c->late_busy) return 2;
    assay_qtask_t *r;
    int again = 0;
    while ((r = assay_queue_pop(c->q, "verify")) != NULL) {
        printf("claimed_again=%llu attempt=%u\n", (unsigned long long)r->id, r->attempt);
        again++;
        assay_qtask_free(r);
    }
    if (assay_store_pending(c->store) && s_flush(c, &st, NULL, NULL) != 0) return 1;
    printf("reclaimed=%d stored=%llu\n", again, (unsigned long long)st.results_stored);
    assay_qtask_free(t[0]);
    assay_qtask_free(t[1]);
    return 0;
}

/* a late generate result (task 301, attempt 1, while the task runs attempt 2):
 * not stored, but its paid samples must reach the response cache */
static int s_stale_samples(s_ctx_t *c)
{
    assay_store_stats_t st = {0};
    const char *out = "{\"samples\": ["
                      "{\"index\": 0, \"answer\": \"A\", \"reasoning\": \"r0\", \"cache_key\": \"k-301-0\","
                      " \"endpoint\": \"sim\", \"model\": \"m\", \"cost\": 0.5},"
                      "{\"index\": 1, \"answer\": \"B\", \"reasoning\": \"r1\", \"cache_key\": \"k-301-1\","
                      " \"endpoint\": \"sim\", \"model\": \"m\", \"cost\": 0.5}]}";
    assay_store_add_result(c->store, 301, 1, 0, out, strlen(out), "w-late", 1000.0);
    if (s_flush(c, &st, NULL, NULL) != 0) return 1;
    printf("stored=%llu stale_attempt=%llu\n", (unsigned long long)st.results_stored,
           (unsigned long long)st.ignored[ASSAY_IGNORED_STALE_ATTEMPT]);
    return 0;
}

/* claim the job's generate tasks and print each one's input */
static int s_claim_input(s_ctx_t *c)
{
    assay_store_stats_t st = {0};
    assay_qtask_t *t[16];
    size_t n = s_claim_all(c, &st, "generate", t, 16);
    for (size_t i = 0; i < n; i++) {
        printf("task=%llu attempt=%u input=%s\n", (unsigned long long)t[i]->id, t[i]->attempt,
               t[i]->input);
        assay_qtask_free(t[i]);
    }
    return n ? 0 : 2;
}

static int s_poison(s_ctx_t *c)
{
    assay_store_stats_t st = {0};
    for (int round = 1; round <= 2; round++) {
        assay_qtask_t *t[16];
        size_t n = s_claim_all(c, &st, "generate", t, 16);
        if (n != 2) {
            fprintf(stderr, "store_flush_run: round %d claimed %zu generate tasks, expected 2\n",
                    round, n);
            return 2;
        }
        if (t[1]->id < t[0]->id) {
            assay_qtask_t *x = t[0];
            t[0] = t[1];
            t[1] = x;
        }
        /* the first round reports before any lease is written (first-stage tasks
         * claimed from job_items have no row yet); the second after the lease */
        if (round == 2 && s_flush(c, &st, NULL, s_nothing) != 0) return 1;
        assay_store_add_lost(c->store, t[0]->id, t[0]->attempt, 0,
                             "worker w-crash lost (heartbeat missed)", "w-crash");
        assay_store_add_fail(c->store, t[1]->id, t[1]->attempt, 1, 0,
                             "worker w-drain lost (disconnected)", "w-drain");
        if (s_flush(c, &st, NULL, NULL) != 0) return 1;
        printf("round=%d first=%llu attempt=%u second=%llu attempt=%u\n", round,
               (unsigned long long)t[0]->id, t[0]->attempt, (unsigned long long)t[1]->id,
               t[1]->attempt);
        assay_qtask_free(t[0]);
        assay_qtask_free(t[1]);
    }
    printf("dead=%llu poisoned=%llu retried=%llu\n", (unsigned long long)st.fails_dead,
           (unsigned long long)st.poisoned, (unsigned long long)st.fails_retried);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: store_flush_run lost_score|ignored|poison|reclaim|stale_samples|claim_input"
                        " JOB_ID\n");
        return 1;
    }
    const char *db = getenv("ASSAY_DB");
    char err[512];
    s_ctx_t c = {0};
    c.job = strtoull(argv[2], NULL, 10);
    c.store = assay_store_new(db ? db : "", err, sizeof err);
    if (!c.store) {
        fprintf(stderr, "store_flush_run: %s\n", err);
        return 1;
    }
    if (assay_store_try_lock(c.store) != 1) {
        fprintf(stderr, "store_flush_run: could not take the broker lock\n");
        return 1;
    }
    c.q = assay_queue_new();
    int rc;
    if (!strcmp(argv[1], "lost_score"))
        rc = s_lost_score(&c);
    else if (!strcmp(argv[1], "ignored"))
        rc = s_ignored(&c);
    else if (!strcmp(argv[1], "poison"))
        rc = s_poison(&c);
    else if (!strcmp(argv[1], "reclaim"))
        rc = s_reclaim(&c);
    else if (!strcmp(argv[1], "stale_samples"))
        rc = s_stale_samples(&c);
    else if (!strcmp(argv[1], "claim_input"))
        rc = s_claim_input(&c);
    else {
        fprintf(stderr, "store_flush_run: unknown scenario \"%s\"\n", argv[1]);
        rc = 1;
    }
    assay_queue_destroy(&c.q);
    assay_store_destroy(&c.store);
    return rc;
}
